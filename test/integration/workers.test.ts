/**
 * `serve --workers 2` as a process: Checks over several connections are spread over both workers,
 * a policy file change, SIGHUP and an admin write reach every worker, /metrics sums the workers,
 * a killed worker comes back, and SIGTERM drains everything and exits 0.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type TestClient } from '../authz/wire.js';
import { makeWorkloadCert } from '../support/certs.js';
import { family, parseMetrics, sampleValue } from '../support/prom-parse.js';
import { ensureBuilt, startServe, type StartedServe } from '../support/server.js';
import { universalMtp } from '../support/universal.js';

const policy = (name: string, action: string): string => `type: MeshTrafficPermission
name: ${name}
mesh: default
spec:
  targetRef: {kind: MeshService, name: backend}
  from:
    - targetRef: {kind: MeshService, name: web}
      default: {action: ${action}}
`;

const REQUEST = {
  source: { certificate: makeWorkloadCert({ uris: ['spiffe://default/web'] }).urlEncoded },
  destination: { principal: 'spiffe://default/backend' },
  http: { method: 'GET', path: '/' },
};

const CONNECTIONS = 4;
const CHECKS_PER_CONNECTION = 25;

let dir: string;
let policies: string;
let stateDir: string;
let server: StartedServe;
let clients: TestClient[] = [];

beforeAll(async () => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'mtp-authz-workers-'));
  policies = join(dir, 'policies');
  stateDir = join(dir, 'state');
  mkdirSync(policies);
  writeFileSync(join(policies, 'backend.yaml'), policy('web-to-backend', 'Allow'));
  server = await startServe(['--policies', policies, '--admin-state-dir', stateDir, '--workers', '2']);
  // A local subchannel pool per client: each client is its own HTTP/2 connection.
  clients = Array.from({ length: CONNECTIONS }, () =>
    connect(server.grpcTarget, undefined, { 'grpc.use_local_subchannel_pool': 1 }),
  );
}, 120_000);

afterAll(() => {
  for (const client of clients) client.close();
  server?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const codes = (): Promise<number[]> => Promise.all(clients.map(async (c) => (await c.check(REQUEST)).code));
const metrics = async () =>
  parseMetrics(await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text());

async function until(what: string, condition: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function checksTotal(families: Awaited<ReturnType<typeof metrics>>): number {
  return family(families, 'mtp_authz_checks_total').metrics.reduce((sum, s) => sum + Number(s.value), 0);
}

describe('serve --workers 2', () => {
  it('starts two workers behind one gRPC port and one HTTP port', async () => {
    const ready = server.logs.filter((l) => l.msg === 'worker ready');
    expect(new Set(ready.map((l) => l.workerPid)).size).toBe(2);
    expect((await fetch(`http://127.0.0.1:${server.httpPort}/readyz`)).status).toBe(200);
    expect(await clients[0]?.health('')).toBe('SERVING');
  });

  it('answers Checks on every connection and /metrics counts them all', async () => {
    for (let i = 0; i < CHECKS_PER_CONNECTION; i++) expect(await codes()).toEqual([0, 0, 0, 0]);
    const families = await metrics();
    expect(checksTotal(families)).toBe(CONNECTIONS * CHECKS_PER_CONNECTION);
    expect(
      sampleValue(families, 'mtp_authz_checks_total', { mesh: 'default', decision: 'allow', via: 'rule' }),
    ).toBe(CONNECTIONS * CHECKS_PER_CONNECTION);
    const histogram = family(families, 'mtp_authz_check_duration_seconds').metrics[0];
    expect(Number(histogram?.count)).toBe(CONNECTIONS * CHECKS_PER_CONNECTION);
    // Gauges describing the policy set are not summed over the workers.
    expect(sampleValue(families, 'mtp_authz_policy_generation')).toBe(1);
  });

  it('switches decisions on every connection when a policy file changes', async () => {
    writeFileSync(join(policies, 'backend.yaml'), policy('web-to-backend', 'Deny'));
    await until('every connection is denied', async () => (await codes()).every((code) => code === 7));
    writeFileSync(join(policies, 'backend.yaml'), policy('web-to-backend', 'Allow'));
    await until('every connection is allowed again', async () => (await codes()).every((code) => code === 0));
  });

  it('answers an admin write only once every worker serves it', async () => {
    const url = `http://127.0.0.1:${server.httpPort}/meshes/default/meshtrafficpermissions/deny-web`;
    const body = JSON.stringify(universalMtp('deny-web', 'web', 'Deny'));
    const put = await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body });
    expect(put.status).toBe(201);
    expect(await codes()).toEqual([7, 7, 7, 7]);
    expect((await fetch(url, { method: 'DELETE' })).status).toBe(200);
    expect(await codes()).toEqual([0, 0, 0, 0]);
  });

  it('reloads every worker on SIGHUP to the primary', async () => {
    const before = sampleValue(await metrics(), 'mtp_authz_policy_generation') ?? 0;
    const primary = server.child.pid;
    const seen = server.logs.length;
    server.kill('SIGHUP');
    await until('both workers reloaded', async () => {
      const reloaded = server.logs
        .slice(seen)
        .filter((l) => l.msg === 'policies reloaded' && l.reason === 'SIGHUP' && l.pid !== primary);
      return new Set(reloaded.map((l) => l.pid)).size === 2;
    });
    expect(sampleValue(await metrics(), 'mtp_authz_policy_generation')).toBeGreaterThan(before);
    expect(await codes()).toEqual([0, 0, 0, 0]);
  });

  it('restarts a worker that dies', async () => {
    const ready = server.logs.filter((l) => l.msg === 'worker ready');
    const victim = ready[ready.length - 1]?.workerPid as number;
    process.kill(victim, 'SIGKILL');
    await server.waitForLog((l) => l.msg === 'worker died' && l.workerPid === victim);
    await server.waitForLog(
      (l) => l.msg === 'worker ready' && !ready.some((r) => r.workerPid === l.workerPid),
      15_000,
    );
    expect((await fetch(`http://127.0.0.1:${server.httpPort}/readyz`)).status).toBe(200);
    // Connections to the dead worker reconnect; the others never noticed.
    await until('every connection answers again', async () => {
      try {
        return (await codes()).every((code) => code === 0);
      } catch {
        return false;
      }
    });
  });

  it('spreads connections over both workers, and SIGTERM drains them all and exits 0', async () => {
    // Fresh connections: the primary hands them to the workers in turn.
    for (const client of clients) client.close();
    clients = Array.from({ length: CONNECTIONS }, () =>
      connect(server.grpcTarget, undefined, { 'grpc.use_local_subchannel_pool': 1 }),
    );
    const before = checksTotal(await metrics());
    for (let i = 0; i < CHECKS_PER_CONNECTION; i++) expect(await codes()).toEqual([0, 0, 0, 0]);
    expect(checksTotal(await metrics())).toBe(before + CONNECTIONS * CHECKS_PER_CONNECTION);
    const seen = server.logs.length;
    for (const client of clients) client.close();
    server.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    const stopped = server.logs.slice(seen).filter((l) => l.msg === 'worker stopped');
    expect(stopped).toHaveLength(2);
    // Both live workers served some of the last round's connections.
    for (const line of stopped) expect(line.checks as number).toBeGreaterThan(0);
  });
});
