/**
 * `serve --store postgres://…` as a user runs it, against a real PostgreSQL: read-your-writes
 * with the store version, operators' files read-only, deletions, a change another replica
 * commits (here: plain SQL), and a database that goes away and comes back while Checks go on.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestClient } from '../authz/wire.js';
import { makeWorkloadCert } from '../support/certs.js';
import { startTestDatabase, type TestDatabase } from '../support/postgres.js';
import { parseMetrics } from '../support/prom-parse.js';
import { servePerTest } from '../support/serve-per-test.js';
import type { StartedServe } from '../support/server.js';

const start = servePerTest();

const WEB = makeWorkloadCert({ uris: ['spiffe://default/web'] }).urlEncoded;
const WEB_TO_BACKEND = {
  source: { certificate: WEB },
  destination: { principal: 'spiffe://default/backend' },
};

const OPERATOR_POLICY = `type: MeshTrafficPermission
name: operators-own
spec:
  targetRef: {kind: MeshService, name: payments}
  from:
    - targetRef: {kind: Mesh}
      default: {action: Deny}
`;

const policy = (name: string, from = 'web') => ({
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

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly json: unknown;
}

async function http(s: StartedServe, method: string, path: string, body?: unknown): Promise<Answer> {
  const res = await fetch(`http://127.0.0.1:${s.httpPort}${path}`, {
    method,
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text.startsWith('{') ? JSON.parse(text) : text };
}

async function listing(s: StartedServe): Promise<{ storeVersion?: number; stale: boolean }> {
  return (await http(s, 'GET', '/policies')).json as { storeVersion?: number; stale: boolean };
}

async function metric(s: StartedServe, name: string): Promise<string | undefined> {
  const res = await fetch(`http://127.0.0.1:${s.httpPort}/metrics`);
  return parseMetrics(await res.text()).get(name)?.metrics[0]?.value;
}

/** A histogram's `_count` sample, e.g. `name_count{operation="write"}`. */
async function histogramCount(s: StartedServe, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${s.httpPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}_count${labels} `));
  return Number(line?.split(' ')[1] ?? 0);
}

async function decision(c: TestClient): Promise<number> {
  return (await c.check(WEB_TO_BACKEND)).code;
}

async function until(what: string, ok: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const MTP = '/meshes/default/meshtrafficpermissions';

describe('serve --store', () => {
  let db: TestDatabase;
  let policies: string;
  beforeAll(async () => {
    db = await startTestDatabase();
    policies = mkdtempSync(join(tmpdir(), 'mtp-store-policies-'));
    writeFileSync(join(policies, 'operators.yaml'), OPERATOR_POLICY);
  });
  afterAll(async () => {
    await db?.destroy();
  });

  it('answers a write once it serves it, with the store version, and shows that version', async () => {
    const url = await db.createDatabase('read_your_writes');
    const { server, client } = await start(['--policies', policies, '--store', url]);
    expect(await decision(client)).toBe(7);
    expect(((await http(server, 'GET', '/policies')).json as { storeVersion: number }).storeVersion).toBe(0);

    const put = await http(server, 'PUT', `${MTP}/web-to-backend`, policy('web-to-backend'));
    expect(put.status).toBe(201);
    expect(put.headers.get('x-mtp-store-version')).toBe('1');
    expect(await decision(client)).toBe(0);
    const listing = (await http(server, 'GET', '/policies')).json as Record<string, unknown>;
    expect(listing.storeVersion).toBe(1);
    expect(listing.stale).toBe(false);
    expect(listing.policies).toContainEqual({
      type: 'MeshTrafficPermission',
      mesh: 'default',
      name: 'web-to-backend',
      file: 'postgres:meshtrafficpermissions/default/web-to-backend.yaml',
    });
    const rows = await sql(url, 'SELECT type, mesh, name, version FROM mtp_authz_resources');
    expect(rows.rows).toEqual([
      { type: 'MeshTrafficPermission', mesh: 'default', name: 'web-to-backend', version: '1' },
    ]);

    const replaced = await http(server, 'PUT', `${MTP}/web-to-backend`, policy('web-to-backend', 'orders'));
    expect([replaced.status, replaced.headers.get('x-mtp-store-version')]).toEqual([200, '2']);
    expect(await decision(client)).toBe(7);

    const removed = await http(server, 'DELETE', `${MTP}/web-to-backend`);
    expect([removed.status, removed.headers.get('x-mtp-store-version')]).toEqual([200, '3']);
    expect((await sql(url, 'SELECT body, version FROM mtp_authz_resources')).rows).toEqual([
      { body: null, version: '3' },
    ]);
    expect((await http(server, 'GET', `${MTP}/web-to-backend`)).status).toBe(404);
    expect(await metric(server, 'mtp_authz_store_served_version')).toBe('3');
    expect(await metric(server, 'mtp_authz_store_up')).toBe('1');
  });

  it('serves from the store alone when no --policies are given', async () => {
    const url = await db.createDatabase('store_only');
    const { server, client } = await start(['--store', url]);
    expect(server.logs.map((l) => l.msg)).toContainEqual(
      expect.stringMatching(/^admin writes: authenticated callers/),
    );
    expect(await decision(client)).toBe(7);
    expect((await http(server, 'PUT', `${MTP}/web-to-backend`, policy('web-to-backend'))).status).toBe(201);
    expect(await decision(client)).toBe(0);
    expect(await histogramCount(server, 'mtp_authz_store_round_trip_seconds', '{operation="write"}')).toBe(1);
    expect(await histogramCount(server, 'mtp_authz_store_round_trip_seconds', '{operation="resync"}')).toBe(
      1,
    );
  });

  it('keeps operators\u2019 files read-only: 409 names the file, nothing is stored', async () => {
    const url = await db.createDatabase('operator_files');
    const { server } = await start(['--policies', policies, '--store', url]);
    const answer = await http(server, 'PUT', `${MTP}/operators-own`, policy('operators-own'));
    expect(answer.status).toBe(409);
    expect(answer.json).toEqual({
      status: 409,
      title: 'Conflict',
      detail: `defined in ${join(policies, 'operators.yaml')}`,
    });
    expect(answer.headers.get('x-mtp-store-version')).toBeNull();
    expect((await sql(url, 'SELECT count(*)::int AS n FROM mtp_authz_resources')).rows).toEqual([{ n: 0 }]);
  });

  it('serves what another replica commits, and refuses writes while the stored set does not load', async () => {
    const url = await db.createDatabase('other_replica');
    const { server, client } = await start(['--policies', policies, '--store', url]);
    const commit = async (name: string, body: string): Promise<void> => {
      await sql(
        url,
        `WITH v AS (UPDATE mtp_authz_meta SET value = value + 1 WHERE key = 'store_version' RETURNING value),
              w AS (INSERT INTO mtp_authz_resources (type, mesh, name, body, version)
                    SELECT 'MeshTrafficPermission', 'default', $1, $2, value FROM v
                    ON CONFLICT (type, mesh, name) DO UPDATE SET body = EXCLUDED.body, version = EXCLUDED.version
                    RETURNING version)
         SELECT pg_notify('mtp_authz_changes', json_build_object('version', version, 'committedAt', now())::text) FROM w`,
        [name, body],
      );
    };
    await commit(
      'from-elsewhere',
      'type: MeshTrafficPermission\nname: from-elsewhere\nmesh: default\nspec:\n  targetRef: {kind: MeshService, name: backend}\n  from:\n    - targetRef: {kind: MeshService, name: web}\n      default: {action: Allow}\n',
    );
    await until('version 1 served', async () => (await listing(server)).storeVersion === 1);
    expect(await decision(client)).toBe(0);
    expect(Number(await metric(server, 'mtp_authz_store_notifications_total'))).toBeGreaterThanOrEqual(1);
    expect(await histogramCount(server, 'mtp_authz_store_convergence_seconds')).toBe(1);
    expect(await metric(server, 'mtp_authz_store_latest_version')).toBe('1');

    // A row no replica could load (written by hand): the last good set goes on serving, stale.
    await commit('broken', 'type: MeshTrafficPermission\nname: broken\nmesh: default\nspec: {}\n');
    await until('stale', async () => (await listing(server)).stale);
    expect(await decision(client)).toBe(0);
    const refused = await http(server, 'PUT', `${MTP}/another`, policy('another'));
    expect(refused.status).toBe(400);
    expect(refused.json).toMatchObject({
      status: 400,
      title: 'Bad Request',
      detail: expect.stringMatching(
        /^the policies do not load with this change \(\d+ violations?\); it was not stored$/,
      ),
    });
    expect((refused.json as { errors: string[] }).errors[0]).toMatch(
      /^postgres:meshtrafficpermissions\/default\/broken\.yaml:\d+:\d+: spec/,
    );
    expect(
      (await sql(url, "SELECT count(*)::int AS n FROM mtp_authz_resources WHERE name = 'another'")).rows,
    ).toEqual([{ n: 0 }]);
  });

  it('goes on answering Checks while the database is down, refuses writes with 503, and resyncs', async () => {
    const url = await db.createDatabase('outage');
    const { server, client } = await start(['--policies', policies, '--store', url]);
    expect((await http(server, 'PUT', `${MTP}/web-to-backend`, policy('web-to-backend'))).status).toBe(201);
    await db.stop();
    try {
      await until('store down', async () => (await metric(server, 'mtp_authz_store_up')) === '0');
      expect(await metric(server, 'mtp_authz_policy_stale')).toBe('1');
      expect(await decision(client)).toBe(0);
      expect((await http(server, 'GET', '/readyz')).status).toBe(200);
      expect((await http(server, 'GET', '/policies')).json).toMatchObject({ stale: true, storeVersion: 1 });
      const refused = await http(server, 'PUT', `${MTP}/during`, policy('during'));
      expect(refused.status).toBe(503);
      expect(refused.headers.get('content-type')).toBe('application/json');
      expect(refused.json).toEqual({
        status: 503,
        title: 'Service Unavailable',
        detail: expect.stringMatching(/^policy store unavailable: \S/),
      });
    } finally {
      await db.start();
    }
    await until('store up', async () => (await metric(server, 'mtp_authz_store_up')) === '1');
    expect(await metric(server, 'mtp_authz_policy_stale')).toBe('0');
    expect(Number(await metric(server, 'mtp_authz_store_resyncs_total'))).toBeGreaterThanOrEqual(2);
    const after = await http(server, 'PUT', `${MTP}/after`, policy('after', 'orders'));
    expect([after.status, after.headers.get('x-mtp-store-version')]).toEqual([201, '2']);
  }, 60_000);
});
