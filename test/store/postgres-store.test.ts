/**
 * The shared store against a real PostgreSQL: schema at start, writes as serialized
 * transactions with a version, tombstones, notifications between two stores (two replicas),
 * a database that goes away and comes back.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChangeRejected, StoreUnavailable } from '../../src/admin/resource-store.js';
import type { UniversalResource } from '../../src/admin/store.js';
import { createLogger } from '../../src/observability/log.js';
import { loadPolicyTexts } from '../../src/policy/load.js';
import { clientConfig, parseStoreUrl } from '../../src/store/dsn.js';
import { PostgresStore, type PostgresStoreOptions } from '../../src/store/postgres-store.js';
import { logSink } from '../support/log-sink.js';
import { startTestDatabase, type TestDatabase } from '../support/postgres.js';

const allow = (name: string, from = 'web'): UniversalResource => ({
  type: 'MeshTrafficPermission',
  name,
  mesh: 'default',
  spec: {
    targetRef: { kind: 'MeshService', name: 'backend' },
    from: [{ targetRef: { kind: 'MeshService', name: from }, default: { action: 'Allow' } }],
  },
});

async function sql(url: string, text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('PostgresStore', () => {
  let db: TestDatabase;
  const stores: PostgresStore[] = [];
  const sink = logSink();
  const log = createLogger('debug', sink.stream);

  function options(url: string, changes: string[] = [], status: boolean[] = []): PostgresStoreOptions {
    const location = parseStoreUrl(url);
    return {
      config: clientConfig(location, undefined),
      redacted: location.redacted,
      log,
      validate: (texts) => Promise.resolve(loadPolicyTexts(texts)),
      onChange: (reason) => {
        changes.push(reason);
        return Promise.resolve();
      },
      onStatus: (up) => status.push(up),
      backoff: { firstMs: 50, maxMs: 200 },
      heartbeatMs: 200,
    };
  }
  async function open(url: string, changes?: string[], status?: boolean[]): Promise<PostgresStore> {
    const store = await PostgresStore.open(options(url, changes, status), 5_000);
    stores.push(store);
    return store;
  }

  beforeAll(async () => {
    db = await startTestDatabase();
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close(1000)));
    await db?.destroy();
  });

  it('creates the schema once when two replicas start together, and again changes nothing', async () => {
    const url = await db.createDatabase('schema_race');
    const [a, b] = await Promise.all([open(url), open(url)]);
    expect(a.up && b.up).toBe(true);
    await open(url);
    const meta = await sql(url, 'SELECT key, value FROM mtp_authz_meta ORDER BY key');
    expect(meta.rows).toEqual([
      { key: 'schema_version', value: '1' },
      { key: 'store_version', value: '0' },
    ]);
  });

  it('refuses a database whose schema is newer than this build', async () => {
    const url = await db.createDatabase('schema_newer');
    await open(url);
    await sql(url, "UPDATE mtp_authz_meta SET value = 7 WHERE key = 'schema_version'");
    await expect(PostgresStore.open(options(url), 1000)).rejects.toThrow(
      "the store's schema is version 7; this build knows versions up to 1",
    );
  });

  it('commits a write with the next version, reads it back and tells the other replica', async () => {
    const url = await db.createDatabase('writes');
    const seen: string[] = [];
    const a = await open(url);
    const b = await open(url, seen);
    const put = await a.withResource('MeshTrafficPermission', 'default', 'web-to-backend', async (tx) => {
      expect(await tx.read()).toBeUndefined();
      return tx.put(allow('web-to-backend'));
    });
    expect(put).toEqual({
      created: true,
      file: 'postgres:meshtrafficpermissions/default/web-to-backend.yaml',
      version: 1,
    });
    expect(a.mirror.version).toBe(1);
    await until('b sees version 1', () => b.mirror.version === 1);
    expect(seen).toEqual(['policy store: version 1']);
    expect(b.mirror.snapshot().texts.map((t) => t.file)).toEqual([
      'postgres:meshtrafficpermissions/default/web-to-backend.yaml',
    ]);
    const again = await b.withResource('MeshTrafficPermission', 'default', 'web-to-backend', async (tx) => {
      expect(await tx.read()).toContain('name: web-to-backend');
      return tx.put(allow('web-to-backend', 'orders'));
    });
    expect(again.created).toBe(false);
    expect(again.version).toBe(2);
    const rows = await sql(url, 'SELECT type, mesh, name, version FROM mtp_authz_resources');
    expect(rows.rows).toEqual([
      { type: 'MeshTrafficPermission', mesh: 'default', name: 'web-to-backend', version: '2' },
    ]);
  });

  it('stores nothing when the set would not load with the change', async () => {
    const url = await db.createDatabase('rejected');
    const a = await open(url);
    const bad = { ...allow('bad'), spec: { targetRef: { kind: 'MeshService', name: 'x' }, from: [{}] } };
    const attempt = a.withResource('MeshTrafficPermission', 'default', 'bad', (tx) => tx.put(bad));
    await expect(attempt).rejects.toBeInstanceOf(ChangeRejected);
    await expect(attempt).rejects.toThrow(
      /^the policies do not load with this change \(\d+ violations?\); it was not stored$/,
    );
    const rejected = (await attempt.catch((e: unknown) => e)) as ChangeRejected;
    expect(rejected.issues[0]?.file).toBe('postgres:meshtrafficpermissions/default/bad.yaml');
    expect((await sql(url, 'SELECT count(*)::int AS n FROM mtp_authz_resources')).rows).toEqual([{ n: 0 }]);
    expect((await sql(url, "SELECT value FROM mtp_authz_meta WHERE key = 'store_version'")).rows).toEqual([
      { value: '0' },
    ]);
  });

  it('keeps a deletion as a tombstone that the other replica applies', async () => {
    const url = await db.createDatabase('tombstone');
    const a = await open(url);
    const b = await open(url);
    await a.withResource('MeshTrafficPermission', 'default', 'gone', (tx) => tx.put(allow('gone')));
    await until('b has it', () => b.mirror.size === 1);
    const removed = await a.withResource('MeshTrafficPermission', 'default', 'gone', (tx) => tx.delete());
    expect(removed).toEqual({
      deleted: true,
      file: 'postgres:meshtrafficpermissions/default/gone.yaml',
      version: 2,
    });
    const rows = await sql(url, 'SELECT body, version FROM mtp_authz_resources');
    expect(rows.rows).toEqual([{ body: null, version: '2' }]);
    await until('b drops it', () => b.mirror.size === 0 && b.mirror.version === 2);
    const none = await a.withResource('MeshTrafficPermission', 'default', 'gone', (tx) => tx.delete());
    expect(none).toEqual({ deleted: false, file: 'postgres:meshtrafficpermissions/default/gone.yaml' });
  });

  it('reads a change made directly in SQL once it is notified', async () => {
    const url = await db.createDatabase('direct');
    const seen: string[] = [];
    const a = await open(url, seen);
    const body = 'type: AccessRole\nname: ops\nrules:\n  - access: [CREATE]\n';
    await sql(
      url,
      `WITH v AS (UPDATE mtp_authz_meta SET value = value + 1 WHERE key = 'store_version' RETURNING value)
       INSERT INTO mtp_authz_resources (type, mesh, name, body, version) SELECT 'AccessRole', '', 'ops', $1, value FROM v`,
      [body],
    );
    await sql(
      url,
      `SELECT pg_notify('mtp_authz_changes', '{"version":1,"committedAt":"2026-01-01T00:00:00Z"}')`,
    );
    await until('the role arrives', () => a.mirror.version === 1);
    expect(a.mirror.snapshot().texts).toEqual([{ file: 'postgres:access-roles/ops.yaml', text: body }]);
    expect(seen).toEqual(['policy store: version 1']);
  });

  it('serializes writers on two replicas: every write gets its own version, the last one wins', async () => {
    const url = await db.createDatabase('concurrent');
    const a = await open(url);
    const b = await open(url);
    const writes = Array.from({ length: 10 }, (_, i) =>
      (i % 2 === 0 ? a : b).withResource('MeshTrafficPermission', 'default', 'shared', (tx) =>
        tx.put(allow('shared', `client-${i}`)),
      ),
    );
    const versions = (await Promise.all(writes)).map((w) => w.version).sort((x, y) => (x ?? 0) - (y ?? 0));
    expect(versions).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const row = await sql(url, 'SELECT body, version FROM mtp_authz_resources');
    expect(row.rows).toHaveLength(1);
    expect(row.rows[0].version).toBe('10');
    await until('both replicas at 10', () => a.mirror.version === 10 && b.mirror.version === 10);
    expect(a.mirror.snapshot().texts).toEqual(b.mirror.snapshot().texts);
    expect(a.mirror.snapshot().texts[0]?.text).toBe(row.rows[0].body);
  });

  it('goes down with the database, refuses writes at once, and resyncs when it is back', async () => {
    const url = await db.createDatabase('outage');
    const status: boolean[] = [];
    const a = await open(url, [], status);
    const other = await open(url);
    await a.withResource('MeshTrafficPermission', 'default', 'before', (tx) => tx.put(allow('before')));
    await db.stop();
    await until('a is down', () => !a.up);
    expect(status).toEqual([true, false]);
    const refused = a.withResource('MeshTrafficPermission', 'default', 'during', (tx) =>
      tx.put(allow('during')),
    );
    await expect(refused).rejects.toBeInstanceOf(StoreUnavailable);
    await expect(refused).rejects.toThrow(/^policy store unavailable: /);
    await db.start();
    await until('other is back', () => other.up, 15_000);
    // Written while `a` was away: only the resync can bring it.
    await other.withResource('MeshTrafficPermission', 'default', 'while-away', (tx) =>
      tx.put(allow('while-away')),
    );
    await until('a is back and resynced', () => a.up && a.mirror.size === 2, 15_000);
    expect(status).toEqual([true, false, true]);
    expect(sink.lines.some((l) => l.msg === 'policy store connection lost')).toBe(true);
  }, 40_000);

  it('waits for a database that is not there yet, saying so, then gives up', async () => {
    const before = sink.lines.length;
    const closed = new URL(db.url);
    closed.port = '1';
    await expect(PostgresStore.open(options(closed.toString()), 600)).rejects.toThrow(
      /^policy store unavailable: connect ECONNREFUSED 127\.0\.0\.1:1$/,
    );
    const retries = sink.lines.slice(before).filter((l) => l.msg === 'policy store unavailable; retrying');
    expect(retries.length).toBeGreaterThanOrEqual(2);
    expect(retries[0]).toMatchObject({ attempt: 1, reason: 'connect ECONNREFUSED 127.0.0.1:1' });
    expect(JSON.stringify(retries)).not.toContain(new URL(db.url).password);
  });
});
