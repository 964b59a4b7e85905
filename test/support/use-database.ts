/**
 * One throw-away PostgreSQL cluster for the enclosing describe block (or file): started before its
 * first test, destroyed after its last. Kept apart from postgres.ts, which a crash test bundles to
 * run outside vitest.
 */
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { startTestDatabase, type TestDatabase } from './postgres.js';

export function useTestDatabase(): TestDatabase {
  let db: TestDatabase | undefined;
  beforeAll(async () => {
    db = await startTestDatabase();
  });
  afterAll(async () => {
    await db?.destroy();
  });
  const started = (): TestDatabase => {
    if (db === undefined) throw new Error('the test database starts in beforeAll; use it inside a test');
    return db;
  };
  return {
    get url() {
      return started().url;
    },
    get port() {
      return started().port;
    },
    stop: () => started().stop(),
    start: () => started().start(),
    createDatabase: (name) => started().createDatabase(name),
    destroy: () => started().destroy(),
  };
}

/** Runs one statement on a connection of its own, as another replica or an operator would. */
export async function sql(url: string, text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}
