/**
 * The reference model of Kuma 2.7.11–2.7.20 against the service as Envoy and operators reach it:
 * random policy sets loaded from text (validator included), swapped in as reloads would, each asked
 * through gRPC Check (real certificates, decision and identity caches on, every question twice) and
 * POST /explain. Then the one decision whose metadata, metric and log line were lost, on the service
 * as `serve` composes it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPolicyTexts } from '../../src/policy/load.js';
import type { MeshTrafficPermission, PolicySet } from '../../src/policy/types.js';
import { connect, type DecodedCheckResponse, type TestClient } from '../authz/wire.js';
import { makeWorkloadCert } from '../support/certs.js';
import { type ReferenceClient, referenceDecision } from '../support/kuma-reference.js';
import { mesh, mtp, policySet, service, subset } from '../support/policies.js';
import { mtpYaml } from '../support/policy-yaml.js';
import { parseMetrics, sampleValue } from '../support/prom-parse.js';
import {
  clientUris,
  policyText,
  randomClient,
  randomDenseClient,
  randomDensePolicy,
  randomInbound,
  randomPolicies,
  rng,
} from '../support/random-policies.js';
import { type ServedHere, serveInProcess } from '../support/serve-in-process.js';
import { policyDir } from '../support/temp-files.js';
import { type InProcessServer, startInProcess } from '../support/server.js';

const certificates = new Map<string, string>();
/** One certificate per SAN list, so repeated clients reach the identity cache. */
function certificateFor(uris: readonly string[]): string {
  const key = uris.join(' ');
  let cert = certificates.get(key);
  if (cert === undefined) certificates.set(key, (cert = makeWorkloadCert({ uris: [...uris] }).urlEncoded));
  return cert;
}

function load(policies: readonly MeshTrafficPermission[]): PolicySet {
  const loaded = loadPolicyTexts([{ file: 'random.yaml', text: policyText(policies) }]);
  if (!loaded.ok) throw new Error(`a generated set does not load: ${JSON.stringify(loaded.errors)}`);
  return loaded.set;
}

/** What the answer on the wire says, in the reference's terms. */
function actionOf(response: DecodedCheckResponse): string {
  if (response.code === 7) return 'Deny';
  return response.metadata.shadow_engine_result === 'denied' ? 'AllowWithShadowDeny' : 'Allow';
}

describe('random policy sets over gRPC Check and POST /explain, caches on', () => {
  let server: InProcessServer;
  let client: TestClient;

  beforeAll(async () => {
    server = await startInProcess(policySet([]), {
      decisionCacheSize: 100_000,
      identityCacheSize: 10_000,
      observability: true,
    });
    client = connect(server.target);
  });

  afterAll(async () => {
    client.close();
    await server.stop();
  });

  async function explain(inbound: Map<string, string>, uris: readonly string[]) {
    const res = await fetch(`http://127.0.0.1:${server.httpPort}/explain`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        destinationMesh: 'default',
        destinationTags: Object.fromEntries(inbound),
        clientSans: uris,
      }),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as { action: string; via: string; decidedBy: { policy: string } | null };
  }

  async function check(inbound: Map<string, string>, uris: readonly string[]) {
    const tags = [...inbound].map(([k, v]) => `${k}=${v}`).join(',');
    return client.check({
      source: { certificate: certificateFor(uris) },
      destination: { principal: `spiffe://default/${inbound.get('kuma.io/service')}` },
      http: { id: '1', method: 'GET', host: 'backend', path: '/', headers: {} },
      contextExtensions: { 'mtp.destination-tags': tags },
    });
  }

  it('0 disagreements with the reference over 40 policy sets × 20 requests', async () => {
    const r = rng(20_261_203);
    const disagreements: string[] = [];
    let asked = 0;
    for (let s = 0; s < 40; s++) {
      const dense = s % 4 === 3;
      const policies = dense ? [randomDensePolicy(r)] : randomPolicies(r);
      server.swap(load(policies));
      for (let q = 0; q < 20; q++) {
        const inbound = dense ? new Map([['kuma.io/service', 'backend']]) : randomInbound(r);
        const who: ReferenceClient = dense ? randomDenseClient(r, q % 2 === 0) : randomClient(r, q % 2 === 0);
        const uris = clientUris(who);
        const reference = referenceDecision(policies, inbound, who);
        const want = reference === 'no-policy' ? 'Deny' : reference;
        const first = await check(inbound, uris);
        const again = await check(inbound, uris);
        const explained = await explain(inbound, uris);
        asked++;
        const where = `set ${s} request ${q}`;
        if (actionOf(first) !== want) disagreements.push(`${where}: Check ${actionOf(first)}, want ${want}`);
        if (JSON.stringify(again) !== JSON.stringify(first))
          disagreements.push(`${where}: cached answer differs`);
        if (explained.action !== want)
          disagreements.push(`${where}: explain ${explained.action}, want ${want}`);
        if ((reference === 'no-policy') !== (explained.via === 'no-policy'))
          disagreements.push(`${where}: explain via ${explained.via}, reference ${reference}`);
        if ((explained.decidedBy?.policy ?? undefined) !== first.metadata.enforced_effective_policy_id)
          disagreements.push(`${where}: explain and Check name different policies`);
      }
    }
    expect(asked).toBe(800);
    expect(disagreements).toEqual([]);
  }, 120_000);

  it('a multi-valued client past the work bound: Deny identity-too-complex on both paths', async () => {
    const keys = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'k8'];
    const values = ['v0', 'v1', 'v2', 'v3', 'v4', 'v5', 'v6', 'v7'];
    const from: [ReturnType<typeof mesh>, 'Allow' | 'Deny'][] = [[mesh(), 'Allow']];
    keys.forEach((k, i) => {
      for (const other of keys.slice(i + 1))
        for (const v of values) from.push([subset({ [k]: v, [other]: v }), 'Deny']);
    });
    server.swap(policySet([mtp('pigeons', mesh(), from)]));
    const inbound = new Map([['kuma.io/service', 'backend']]);
    const uris = ['spiffe://default/web', ...keys.flatMap((k) => values.map((v) => `kuma://${k}/${v}`))];
    expect(await explain(inbound, uris)).toEqual({
      action: 'Deny',
      via: 'identity-too-complex',
      decidedBy: null,
      policies: ['pigeons'],
    });
    for (let i = 0; i < 2; i++) {
      expect(await check(inbound, uris)).toMatchObject({
        code: 7,
        metadata: { enforced_engine_result: 'denied' },
      });
    }
  });
});

describe('Allow and AllowWithShadowDeny atoms both matched, on the CLI', () => {
  const POLICY = mtpYaml(
    mtp('try-b', service('backend'), [
      [service('a'), 'Allow'],
      [service('b'), 'AllowWithShadowDeny'],
    ]),
  );
  let server: ServedHere | undefined;
  let client: TestClient | undefined;

  beforeAll(async () => {
    server = await serveInProcess(['--policies', policyDir({ 'policies.yaml': POLICY })]);
    client = connect(server.grpcTarget);
  });

  afterAll(async () => {
    client?.close();
    server?.kill();
    await server?.exited;
  });

  it('answers allowed with the shadow deny, counts shadow_deny and logs the line', async () => {
    const certificate = certificateFor(['spiffe://default/a', 'spiffe://default/b']);
    const response = await client?.check({
      source: { certificate },
      destination: { principal: 'spiffe://default/backend' },
      http: { id: '1', method: 'GET', host: 'backend', path: '/', headers: { 'x-request-id': 'both' } },
    });
    expect(response).toEqual({
      code: 0,
      ok: { headers: [] },
      metadata: {
        enforced_engine_result: 'allowed',
        enforced_effective_policy_id: 'try-b',
        shadow_engine_result: 'denied',
        shadow_effective_policy_id: 'try-b',
      },
      httpResponse: 'okResponse',
    } satisfies DecodedCheckResponse);

    const metrics = parseMetrics(await (await fetch(`http://127.0.0.1:${server?.httpPort}/metrics`)).text());
    expect(
      sampleValue(metrics, 'mtp_authz_checks_total', {
        mesh: 'default',
        decision: 'shadow_deny',
        via: 'rule',
      }),
    ).toBe(1);
    expect(
      sampleValue(metrics, 'mtp_authz_checks_total', { mesh: 'default', decision: 'allow', via: 'rule' }),
    ).toBe(0);

    const lines = () =>
      (server?.stdout ?? [])
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    await expect
      .poll(() => lines().find((l) => l.requestId === 'both'))
      .toMatchObject({
        decision: 'shadow_deny',
        via: 'rule',
        policy: 'try-b',
        fromIndex: 1,
        source: 'spiffe://default/a,spiffe://default/b',
      });
  });
});
