/**
 * `serve --store` starting and stopping: a URL or password file that cannot work (exit 2, one
 * line naming the flag), a database not there yet (retries logged, then exit 1 or a normal
 * start), the password file, `--workers 2` with the primary owning the store, and SIGTERM with
 * the database gone.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../authz/wire.js';
import { makeWorkloadCert } from '../support/certs.js';
import { startTestDatabase, type TestDatabase } from '../support/postgres.js';
import { ALLOW_ALL_YAML } from '../support/policy-yaml.js';
import { servePerTest } from '../support/serve-per-test.js';
import { killServe, REPO, spawnServe, startServe } from '../support/server.js';

const start = servePerTest();
const LISTEN = ['--grpc-address', '127.0.0.1:0', '--http-address', '127.0.0.1:0'];

const REQUEST = {
  source: { certificate: makeWorkloadCert({ uris: ['spiffe://default/web'] }).urlEncoded },
  destination: { principal: 'spiffe://default/backend' },
};
const DENY_WEB = {
  type: 'MeshTrafficPermission',
  name: 'deny-web',
  mesh: 'default',
  spec: {
    targetRef: { kind: 'MeshService', name: 'backend' },
    from: [{ targetRef: { kind: 'MeshService', name: 'web' }, default: { action: 'Deny' } }],
  },
};

/** Runs serve to its exit: the code and stderr. */
function runServe(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): { status: number | null; stderr: string } {
  const run = spawnSync(process.execPath, [join(REPO, 'dist/cli.js'), 'serve', ...LISTEN, ...args], {
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: run.status, stderr: run.stderr };
}

async function put(httpPort: number, body: unknown): Promise<{ status: number; version: string | null }> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/meshes/default/meshtrafficpermissions/deny-web`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await res.text();
  return { status: res.status, version: res.headers.get('x-mtp-store-version') };
}

describe('serve --store at start-up', () => {
  let db: TestDatabase;
  let policies: string;
  let dir: string;
  beforeAll(async () => {
    db = await startTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'mtp-store-startup-'));
    policies = join(dir, 'allow-all.yaml');
    writeFileSync(policies, ALLOW_ALL_YAML);
  });
  afterAll(async () => {
    await db?.destroy();
  });

  it.each([
    ['mysql://u@h/db', '--store: scheme "mysql:" is not postgres:// or postgresql://'],
    ['postgres://h/db', '--store: no user: expected postgres://USER:PASSWORD@HOST:PORT/DATABASE'],
    ['postgres://u:secret@h', '--store: no database: expected postgres://USER:PASSWORD@HOST:PORT/DATABASE'],
    [
      'postgres://u:secret@h/db?sslmode=prefer',
      '--store: sslmode must be one of disable, require, verify-ca, verify-full',
    ],
    [
      'postgres://u:secret@h/db?password=x',
      '--store: unknown parameter "password" (sslmode and sslrootcert are read)',
    ],
    ['not a url', '--store: not a URL of the form postgres://USER:PASSWORD@HOST:PORT/DATABASE'],
  ])('refuses --store %s with exit 2 and one line, never echoing the password', (url, message) => {
    const run = runServe(['--policies', policies, '--store', url]);
    expect(run.status).toBe(2);
    expect(run.stderr).toBe(`mtp-authz serve: ${message}\n`);
    expect(run.stderr).not.toContain('secret');
  });

  it('names the env form when the URL came from MTP_AUTHZ_STORE', () => {
    const run = runServe(['--policies', policies], { MTP_AUTHZ_STORE: 'http://u:secret@h/db' });
    expect([run.status, run.stderr]).toEqual([
      2,
      'mtp-authz serve: MTP_AUTHZ_STORE: scheme "http:" is not postgres:// or postgresql://\n',
    ]);
  });

  it('refuses --store with --admin-state-dir, and a password file without --store', () => {
    expect(runServe(['--policies', policies, '--store', db.url, '--admin-state-dir', dir])).toEqual({
      status: 2,
      stderr:
        'mtp-authz serve: --store and --admin-state-dir cannot be used together: the admin API keeps its resources in one place\n',
    });
    expect(runServe(['--policies', policies, '--store-password-file', policies])).toEqual({
      status: 2,
      stderr: 'mtp-authz serve: --store-password-file needs --store\n',
    });
  });

  it('refuses an unreadable password file with exit 2, naming the file', () => {
    const missing = join(dir, 'no-such-password');
    const run = runServe(['--policies', policies, '--store', db.url], {
      MTP_AUTHZ_STORE_PASSWORD_FILE: missing,
    });
    expect(run.status).toBe(2);
    const lines = run.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string });
    expect(lines.map((l) => l.msg)).toEqual([`--store-password-file ${missing}: cannot be read (ENOENT)`]);
  });

  it('takes the password from the password file, in place of the URL\u2019s', async () => {
    const url = new URL(await db.createDatabase('password_file'));
    const file = join(dir, 'password');
    writeFileSync(file, `${decodeURIComponent(url.password)}\n`);
    url.password = 'wrong';
    const { server } = await start([
      '--policies',
      policies,
      '--store',
      url.toString(),
      '--store-password-file',
      file,
    ]);
    expect((await put(server.httpPort, DENY_WEB)).status).toBe(201);
  });

  it('retries while the database is down, logging each attempt, then exits 1', () => {
    const closed = new URL(db.url);
    closed.port = '1';
    const run = runServe([
      '--policies',
      policies,
      '--store',
      closed.toString(),
      '--store-connect-timeout',
      '1s',
    ]);
    expect(run.status).toBe(1);
    const lines = run.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const retries = lines.filter((l) => l.msg === 'policy store unavailable; retrying');
    expect(retries.length).toBeGreaterThanOrEqual(2);
    expect(retries[0]).toMatchObject({
      attempt: 1,
      reason: 'connect ECONNREFUSED 127.0.0.1:1',
      store: `postgres://mtp_authz@127.0.0.1:1/${closed.pathname.slice(1)}`,
    });
    expect(lines.at(-1)?.msg).toBe(
      `cannot reach the policy store postgres://mtp_authz@127.0.0.1:1${closed.pathname} within --store-connect-timeout 1s: connect ECONNREFUSED 127.0.0.1:1`,
    );
    expect(run.stderr).not.toContain(decodeURIComponent(closed.password));
  });

  it('starts once a database that was down comes up within the timeout', async () => {
    const url = await db.createDatabase('late');
    await db.stop();
    const server = spawnServe([...LISTEN, '--policies', policies, '--store', url]);
    try {
      await server.waitForLog((l) => l.msg === 'policy store unavailable; retrying');
      await db.start();
      const listening = await server.waitForLog(
        (l) => l.msg === 'listening' && l.listener === 'http',
        20_000,
      );
      expect((await put(listening.port as number, DENY_WEB)).version).toBe('1');
    } finally {
      await killServe(server as Parameters<typeof killServe>[0]);
    }
  }, 40_000);

  it('with --workers 2, the primary owns the store and every worker serves a write', async () => {
    const url = await db.createDatabase('workers');
    const server = await startServe(['--policies', policies, '--store', url, '--workers', '2']);
    const clients = Array.from({ length: 4 }, () =>
      connect(server.grpcTarget, undefined, { 'grpc.use_local_subchannel_pool': 1 }),
    );
    try {
      expect(await Promise.all(clients.map(async (c) => (await c.check(REQUEST)).code))).toEqual([
        0, 0, 0, 0,
      ]);
      expect(await put(server.httpPort, DENY_WEB)).toEqual({ status: 201, version: '1' });
      expect(await Promise.all(clients.map(async (c) => (await c.check(REQUEST)).code))).toEqual([
        7, 7, 7, 7,
      ]);
      const metrics = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
      expect(metrics).toMatch(/^mtp_authz_store_up 1$/m);
      expect(metrics).toMatch(/^mtp_authz_store_served_version 1$/m);
      expect(metrics).toMatch(/^mtp_authz_policy_stale 0$/m);
    } finally {
      for (const c of clients) c.close();
      await killServe(server);
    }
  }, 60_000);

  it('stops within --shutdown-grace on SIGTERM while the database is down', async () => {
    const url = await db.createDatabase('shutdown');
    const server = await startServe(['--policies', policies, '--store', url, '--shutdown-grace', '2s']);
    await db.stop();
    try {
      await server.waitForLog((l) => l.msg === 'policy store connection lost');
      server.kill('SIGTERM');
      expect(await server.exited).toBe(0);
      // The drain finished (not merely the grace deadline's exit): the store's close did not hang.
      expect(server.logs.map((l) => l.msg)).toContain('stopped');
    } finally {
      await db.start();
      await killServe(server);
    }
  }, 30_000);
});
