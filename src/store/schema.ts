/**
 * The store's tables, created and migrated at start-up. Replicas starting together take turns
 * under a session advisory lock, so each migration runs once; `schema_version` in
 * `mtp_authz_meta` says which have run. A database migrated by a newer build is refused.
 */
import type { ClientBase } from 'pg';

export const CHANGES_CHANNEL = 'mtp_authz_changes';
/** Any constant shared by every replica: the advisory lock migrations run under ("mtpauthz" in ASCII). */
const MIGRATION_LOCK = 0x6d7470617574687an;

/** Migration N (1-based) brings the schema from version N-1 to N. Never edit one; add the next. */
const MIGRATIONS: readonly (readonly string[])[] = [
  [
    `CREATE TABLE IF NOT EXISTS mtp_authz_meta (
       key text PRIMARY KEY,
       value bigint NOT NULL
     )`,
    // mesh is '' for the global types: a primary key cannot hold NULL. body NULL is a deletion
    // kept as a tombstone, so that replicas read every change after their version.
    `CREATE TABLE IF NOT EXISTS mtp_authz_resources (
       type text NOT NULL,
       mesh text NOT NULL,
       name text NOT NULL,
       body text,
       version bigint NOT NULL,
       updated_at timestamptz NOT NULL DEFAULT now(),
       PRIMARY KEY (type, mesh, name)
     )`,
    'CREATE INDEX IF NOT EXISTS mtp_authz_resources_by_version ON mtp_authz_resources (version)',
    `INSERT INTO mtp_authz_meta (key, value) VALUES ('store_version', 0) ON CONFLICT (key) DO NOTHING`,
  ],
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export class SchemaError extends Error {
  override readonly name = 'SchemaError';
}

/** Brings the database to SCHEMA_VERSION; resolves the version it was at before. */
export async function migrate(client: ClientBase): Promise<number> {
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK.toString()]);
  try {
    const before = await currentVersion(client);
    if (before > SCHEMA_VERSION)
      throw new SchemaError(
        `the store's schema is version ${before}; this build knows versions up to ${SCHEMA_VERSION}`,
      );
    for (let v = before + 1; v <= SCHEMA_VERSION; v++) {
      await client.query('BEGIN');
      try {
        for (const statement of MIGRATIONS[v - 1] ?? []) await client.query(statement);
        await client.query(
          `INSERT INTO mtp_authz_meta (key, value) VALUES ('schema_version', $1)
           ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`,
          [v],
        );
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    }
    return before;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK.toString()]).catch(() => undefined);
  }
}

async function currentVersion(client: ClientBase): Promise<number> {
  const table = await client.query<{ exists: boolean }>(
    "SELECT to_regclass('mtp_authz_meta') IS NOT NULL AS exists",
  );
  if (table.rows[0]?.exists !== true) return 0;
  const row = await client.query<{ value: string }>(
    "SELECT value FROM mtp_authz_meta WHERE key = 'schema_version'",
  );
  return Number(row.rows[0]?.value ?? 0);
}
