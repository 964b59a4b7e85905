/**
 * Observability as an operator sees it: real Checks against the running service (in this process), then /metrics read
 * with a real Prometheus text parser, decision log lines on stdout, shadow policies, /policies,
 * /explain, and the Grafana dashboard's queries against the live metric names.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type TestClient } from '../authz/wire.js';
import { makeWorkloadCert } from '../support/certs.js';
import { dashboardMetricNames } from '../support/dashboard.js';
import { type MetricFamily, parseMetrics, sampleValue, seriesOf } from '../support/prom-parse.js';
import { mtp, service } from '../support/policies.js';
import { policiesYaml } from '../support/policy-yaml.js';
import { type ServedHere, serveInProcess } from '../support/serve-in-process.js';
import { policyDir } from '../support/temp-files.js';

const POLICIES = policiesYaml(
  mtp('allow-web', service('backend'), [
    [service('web'), 'Allow'],
    [service('evil'), 'Deny'],
    [service('ops'), 'AllowWithShadowDeny'],
  ]),
  // Tried on live traffic, not enforced: would lock web out of backend.
  mtp('a-try-lockdown', service('backend'), [[service('web'), 'Deny']], {
    labels: { 'kuma.io/effect': 'shadow' },
  }),
);

const cert = (service: string, m = 'default') =>
  makeWorkloadCert({ uris: [`spiffe://${m}/${service}`] }).urlEncoded;
const CERTS = { web: cert('web'), evil: cert('evil'), ops: cert('ops'), stranger: cert('stranger') };

function request(
  certificate: string | undefined,
  destination = 'spiffe://default/backend',
  requestId = 'req-1',
) {
  return {
    ...(certificate === undefined ? {} : { source: { certificate } }),
    destination: { principal: destination },
    http: {
      id: '1',
      method: 'GET',
      host: 'backend.mesh',
      path: '/orders?secret=x',
      headers: { 'x-request-id': requestId },
    },
  };
}

let server: ServedHere;
let client: TestClient;
let metrics: Map<string, MetricFamily>;

async function scrape(): Promise<Map<string, MetricFamily>> {
  const res = await fetch(`http://127.0.0.1:${server.httpPort}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseMetrics(await res.text());
}

const checks = (labels: Record<string, string>) => sampleValue(metrics, 'mtp_authz_checks_total', labels);

beforeAll(async () => {
  server = await serveInProcess(['--policies', policyDir({ 'policies.yaml': POLICIES })]);
  client = connect(server.grpcTarget);
  const send = async (n: number, certificate: string | undefined) => {
    for (let i = 0; i < n; i++) await client.check(request(certificate, undefined, `req-${i}`));
  };
  await send(5, CERTS.web);
  await send(3, CERTS.evil);
  await send(2, CERTS.ops);
  await send(4, CERTS.stranger);
  await send(1, undefined);
  metrics = await scrape();
});

afterAll(async () => {
  client.close();
  server.kill('SIGTERM');
  await server.exited;
});

describe('/metrics after real Checks', () => {
  it('counts each decision exactly once, by mesh, decision and via', () => {
    expect(checks({ mesh: 'default', decision: 'allow', via: 'rule' })).toBe(5);
    expect(checks({ mesh: 'default', decision: 'deny', via: 'rule' })).toBe(3);
    expect(checks({ mesh: 'default', decision: 'shadow_deny', via: 'rule' })).toBe(2);
    expect(checks({ mesh: 'default', decision: 'deny', via: 'no-matching-from' })).toBe(4);
    expect(checks({ mesh: 'default', decision: 'deny', via: 'no-identity' })).toBe(1);
    const histogram = metrics.get('mtp_authz_check_duration_seconds')?.metrics[0];
    expect(Number(histogram?.count)).toBe(15);
  });

  it('counts cache lookups: two identity misses per distinct certificate (cached when seen again), hits after', () => {
    const lookups = (cache: string, result: string) =>
      sampleValue(metrics, 'mtp_authz_cache_lookups_total', { cache, result });
    expect(lookups('identity', 'miss')).toBe(8);
    expect(lookups('identity', 'hit')).toBe(6);
    // Enforced and shadow decisions are both cached: 14 identified requests, 4 distinct questions each.
    expect(lookups('decision', 'miss')).toBe(8);
    expect(lookups('decision', 'hit')).toBe(20);
    expect(sampleValue(metrics, 'mtp_authz_cache_entries', { cache: 'identity' })).toBe(4);
  });

  it('counts shadow differences: web would be denied by the shadow policy', () => {
    expect(
      sampleValue(metrics, 'mtp_authz_shadow_policy_checks_total', {
        mesh: 'default',
        outcome: 'would_deny',
      }),
    ).toBe(5);
    expect(
      sampleValue(metrics, 'mtp_authz_shadow_policy_checks_total', { mesh: 'default', outcome: 'same' }),
    ).toBe(10);
  });

  it('reports the loaded policies', () => {
    expect(sampleValue(metrics, 'mtp_authz_policy_generation')).toBe(1);
    expect(sampleValue(metrics, 'mtp_authz_policies', { mesh: 'default' })).toBe(2);
    expect(sampleValue(metrics, 'mtp_authz_policy_stale')).toBe(0);
    expect(sampleValue(metrics, 'mtp_authz_policy_reloads_total', { result: 'success' })).toBe(1);
    expect(sampleValue(metrics, 'mtp_authz_policy_last_reload_success_timestamp_seconds')).toBeGreaterThan(
      Date.now() / 1000 - 300,
    );
    expect(metrics.get('process_resident_memory_bytes')).toBeDefined();
  });

  it('1 000 requests naming random meshes create no new series', async () => {
    const before = seriesOf(metrics, 'mtp_authz_checks_total').length;
    for (let i = 0; i < 1000; i++) {
      const meshName = `m${Math.random().toString(36).slice(2)}`;
      await client.check(request(i % 2 ? CERTS.web : undefined, `spiffe://${meshName}/backend`));
    }
    const after = await scrape();
    expect(seriesOf(after, 'mtp_authz_checks_total').length).toBe(before);
    expect(
      (sampleValue(after, 'mtp_authz_checks_total', {
        mesh: 'other',
        decision: 'deny',
        via: 'mesh-mismatch',
      }) ?? 0) +
        (sampleValue(after, 'mtp_authz_checks_total', {
          mesh: 'other',
          decision: 'deny',
          via: 'no-identity',
        }) ?? 0),
    ).toBe(1000);
  });

  it('names only metrics the service exports on the Grafana dashboard', () => {
    const exported = new Set<string>();
    for (const f of metrics.values()) {
      exported.add(f.name);
      if (f.type === 'HISTOGRAM')
        for (const suffix of ['_bucket', '_sum', '_count']) exported.add(f.name + suffix);
    }
    const referenced = dashboardMetricNames();
    expect(referenced.size).toBeGreaterThan(10);
    for (const name of referenced)
      expect(exported, `${name} is on the dashboard but not exported`).toContain(name);
  });
});

describe('decision log on stdout', () => {
  const lines = () =>
    server.stdout.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);

  it('logs a deny with who, what, which policy and the HTTP request', async () => {
    await expect.poll(() => lines().filter((l) => l.decision === 'deny' && l.via === 'rule').length).toBe(3);
    const deny = lines().find((l) => l.decision === 'deny' && l.via === 'rule');
    expect(deny).toMatchObject({
      decision: 'deny',
      via: 'rule',
      mesh: 'default',
      source: 'spiffe://default/evil',
      destination: 'backend',
      policy: 'allow-web',
      fromIndex: 1,
      method: 'GET',
      host: 'backend.mesh',
      path: '/orders',
      requestId: 'req-0',
    });
    expect(typeof deny?.time).toBe('string');
  });

  it('logs shadow-denies and the shadow policy differences; plain allows are not logged', async () => {
    await expect.poll(() => lines().filter((l) => l.decision === 'shadow_deny').length).toBe(2);
    expect(lines().find((l) => l.decision === 'shadow_deny')).toMatchObject({
      source: 'spiffe://default/ops',
      policy: 'allow-web',
      fromIndex: 2,
    });
    const differences = lines().filter((l) => l.decision === 'allow');
    expect(differences).toHaveLength(5);
    expect(differences[0]).toMatchObject({
      source: 'spiffe://default/web',
      shadow: { outcome: 'would_deny', action: 'Deny', policy: 'a-try-lockdown', fromIndex: 0 },
    });
  });
});

describe('/policies and /explain against the live policies', () => {
  it('lists the loaded policies with their files', async () => {
    const res = await fetch(`http://127.0.0.1:${server.httpPort}/policies`);
    const body = (await res.json()) as {
      generation: number;
      stale: boolean;
      loadedAt: string;
      policies: unknown[];
    };
    expect(body).toMatchObject({ generation: 1, stale: false });
    expect(new Date(body.loadedAt).getTime()).toBeGreaterThan(0);
    expect(body.policies).toEqual([
      {
        type: 'MeshTrafficPermission',
        mesh: 'default',
        name: 'allow-web',
        file: expect.stringMatching(/policies\.yaml$/),
      },
      {
        type: 'MeshTrafficPermission',
        mesh: 'default',
        name: 'a-try-lockdown',
        file: expect.stringMatching(/policies\.yaml$/),
      },
    ]);
  });

  it('explains like the CLI does', async () => {
    const res = await fetch(`http://127.0.0.1:${server.httpPort}/explain`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        destinationMesh: 'default',
        destinationTags: { 'kuma.io/service': 'backend' },
        clientSans: ['spiffe://default/evil'],
      }),
    });
    expect(await res.json()).toEqual({
      action: 'Deny',
      via: 'rule',
      decidedBy: { policy: 'allow-web', fromIndex: 1 },
      policies: ['allow-web'],
    });
  });
});
