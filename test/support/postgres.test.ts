import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDatabase, type TestDatabase } from './postgres.js';

async function query(url: string, sql: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql, values);
  } finally {
    await client.end();
  }
}

/** The data directory of the cluster serving `url`, as the server itself reports it. */
async function dataDirectory(url: string): Promise<string> {
  const result = await query(url, 'SHOW data_directory');
  return (result.rows[0] as { data_directory: string }).data_directory;
}

describe('a throw-away PostgreSQL cluster', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await startTestDatabase();
  });
  afterAll(async () => {
    await db.destroy();
  });

  it('answers on 127.0.0.1 at its port with the password in its URL', async () => {
    const url = new URL(db.url);
    expect(url.hostname).toBe('127.0.0.1');
    expect(Number(url.port)).toBe(db.port);
    const result = await query(db.url, 'SELECT current_database() AS name, 1 + 1 AS two');
    expect(result.rows).toEqual([{ name: 'mtp_authz_test', two: 2 }]);
  });

  it('refuses a wrong password (scram-sha-256 authentication, not trust)', async () => {
    const url = new URL(db.url);
    url.password = 'wrong';
    await expect(query(url.toString(), 'SELECT 1')).rejects.toThrow(
      `password authentication failed for user "${url.username}"`,
    );
    const method = await query(db.url, 'SELECT DISTINCT auth_method FROM pg_hba_file_rules');
    expect(method.rows.map((row: { auth_method: string }) => row.auth_method)).toEqual(['scram-sha-256']);
  });

  it('does not run as root', async () => {
    const directory = await dataDirectory(db.url);
    const postmaster = readFileSync(join(directory, 'postmaster.pid'), 'utf8').split('\n')[0];
    expect(statSync(`/proc/${postmaster}`).uid).not.toBe(0);
  });

  it('keeps its data across stop() and start(), on the same port', async () => {
    await query(db.url, 'CREATE TABLE kept (value text)');
    await query(db.url, 'INSERT INTO kept VALUES ($1)', ['still here']);
    await db.stop();
    await expect(query(db.url, 'SELECT 1')).rejects.toThrow('ECONNREFUSED');
    await db.start();
    expect(new URL(db.url).port).toBe(String(db.port));
    const result = await query(db.url, 'SELECT value FROM kept');
    expect(result.rows).toEqual([{ value: 'still here' }]);
  });

  it('makes further empty databases in the same cluster', async () => {
    const other = await db.createDatabase('second_one');
    expect(new URL(other).pathname).toBe('/second_one');
    const result = await query(other, "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'");
    expect(result.rows).toEqual([{ n: 0 }]);
    await expect(db.createDatabase('Robert"; DROP')).rejects.toThrow(
      'database name "Robert\\"; DROP" is not [a-z_][a-z0-9_]*',
    );
  });
});

describe('destroy()', () => {
  it('stops the server and removes the cluster directory', async () => {
    const db = await startTestDatabase();
    const directory = await dataDirectory(db.url);
    expect(existsSync(directory)).toBe(true);
    await db.destroy();
    expect(existsSync(directory)).toBe(false);
    await expect(query(db.url, 'SELECT 1')).rejects.toThrow('ECONNREFUSED');
  });
});

describe('a test run that dies without destroy()', () => {
  it('leaves no server and no directory behind', async () => {
    // A child process starts a cluster, prints where it lives, and is killed with SIGKILL. It runs
    // the harness bundled to plain JavaScript, since this Node runs no TypeScript of its own.
    const bundleDir = mkdtempSync(join(tmpdir(), 'mtp-authz-pg-crash-'));
    const bundle = join(bundleDir, 'crash.cjs');
    await build({
      stdin: {
        contents: `import { startTestDatabase } from './postgres.js';
          void startTestDatabase().then((db) => {
            console.log(JSON.stringify({ url: db.url }));
            setInterval(() => {}, 1000);
          });`,
        resolveDir: import.meta.dirname,
        loader: 'ts',
      },
      bundle: true,
      platform: 'node',
      format: 'cjs',
      external: ['pg-native'],
      outfile: bundle,
      logLevel: 'silent',
    });
    const child = spawn(process.execPath, [bundle], { stdio: ['ignore', 'pipe', 'pipe'] });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      let err = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line !== undefined) resolve((JSON.parse(line) as { url: string }).url);
      });
      child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
      child.on('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
    });
    const directory = await dataDirectory(url);
    child.kill('SIGKILL');
    const deadline = Date.now() + 10_000;
    while (existsSync(directory) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    rmSync(bundleDir, { recursive: true, force: true });
    expect(existsSync(directory)).toBe(false);
    await expect(query(url, 'SELECT 1')).rejects.toThrow('ECONNREFUSED');
  });
});
