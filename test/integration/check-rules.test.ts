/**
 * spec.rules over the wire: Envoy-shaped Checks with real certificates against a rules policy set —
 * MeshIdentity SPIFFE IDs of another trust domain, the joined SANs, SNI from tls_session, the
 * from policy a rules policy makes ignored, AllowWithShadowDeny metadata, and a shadow rules policy.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { observabilityRoutes } from '../../src/observability/routes.js';
import type { CheckRequestInit, TestClient } from '../authz/wire.js';
import { makeWorkloadCert } from '../support/certs.js';
import { mesh, mtp, policySet, service } from '../support/policies.js';
import { exact, prefix, rule, rulesMtp, sni } from '../support/rules-policies.js';
import { type InProcessServer, serveForFile } from '../support/server.js';

const WEB_ID = 'spiffe://default.zone-1.mesh.local/ns/kuma-demo/sa/web';
const SET = policySet([
  mtp('allow-all-from', mesh(), [[mesh(), 'Allow']]),
  rulesMtp('backend', service('backend'), [
    rule({
      deny: [exact('spiffe://default.zone-1.mesh.local/ns/kuma-demo/sa/legacy')],
      allowWithShadowDeny: [exact('spiffe://default.zone-1.mesh.local/ns/kuma-demo/sa/ops')],
      allow: [exact(WEB_ID), { ...prefix('spiffe://default.zone-2.mesh.local'), ...sni('backend.mesh') }],
    }),
  ]),
  rulesMtp('try-deny-web', service('backend'), [rule({ deny: [exact(WEB_ID)] })], {
    labels: { 'kuma.io/effect': 'shadow' },
  }),
]);

const cert = (...uris: string[]): string => makeWorkloadCert({ uris }).urlEncoded;
const request = (certificate: string, extra: Partial<CheckRequestInit> = {}): CheckRequestInit => ({
  source: { certificate },
  destination: { principal: 'spiffe://default/backend' },
  ...extra,
});

let server: InProcessServer;
let client: TestClient;

serveForFile(SET, (opened) => ({ server, client } = opened));

describe('Check with spec.rules', () => {
  it('allows a MeshIdentity client of another trust domain by its exact SPIFFE ID', async () => {
    expect(await client.check(request(cert(WEB_ID)))).toMatchObject({
      code: 0,
      metadata: { enforced_engine_result: 'allowed', enforced_effective_policy_id: 'backend' },
    });
  });

  it('denies a client the rules do not match, though the ignored from policy allows everyone', async () => {
    const stranger = cert('spiffe://default.zone-1.mesh.local/ns/kuma-demo/sa/stranger');
    expect(await client.check(request(stranger))).toMatchObject({
      code: 7,
      metadata: { enforced_engine_result: 'denied' },
    });
    // The same SPIFFE ID with a second SAN no longer matches Exact: the SANs are matched joined.
    expect(await client.check(request(cert(WEB_ID, 'kuma://env/prod')))).toMatchObject({ code: 7 });
    // Denied by a deny match, which names the policy.
    const legacy = cert('spiffe://default.zone-1.mesh.local/ns/kuma-demo/sa/legacy');
    expect(await client.check(request(legacy))).toMatchObject({
      code: 7,
      metadata: { enforced_engine_result: 'denied', enforced_effective_policy_id: 'backend' },
    });
  });

  it('lets AllowWithShadowDeny through with the shadow result', async () => {
    const ops = cert('spiffe://default.zone-1.mesh.local/ns/kuma-demo/sa/ops');
    expect(await client.check(request(ops))).toMatchObject({
      code: 0,
      metadata: {
        enforced_engine_result: 'allowed',
        shadow_engine_result: 'denied',
        shadow_effective_policy_id: 'backend',
      },
    });
  });

  it('needs both parts of a match: the SPIFFE prefix and the SNI of tls_session', async () => {
    const zone2 = cert('spiffe://default.zone-2.mesh.local/ns/kuma-demo/sa/api');
    expect(await client.check(request(zone2, { sni: 'backend.mesh' }))).toMatchObject({ code: 0 });
    expect(await client.check(request(zone2, { sni: 'other.mesh' }))).toMatchObject({ code: 7 });
    expect(await client.check(request(zone2))).toMatchObject({ code: 7 });
  });

  it('POST /explain names the deciding rule and the from policy the rules policy made ignored', async () => {
    // The explain route of the HTTP port, against this server's live policies.
    const route = observabilityRoutes.find((r) => r.path === '/explain');
    const http = createServer((req, res) => {
      void route?.handler(req, res, {
        registry: new Registry(),
        snapshot: () => undefined,
        table: () => server.state.current?.table,
      });
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const { port } = http.address() as AddressInfo;
    const answer = await fetch(`http://127.0.0.1:${port}/explain`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        destinationTags: { 'kuma.io/service': 'backend' },
        clientSans: ['spiffe://default.zone-2.mesh.local/ns/kuma-demo/sa/api'],
        sni: 'backend.mesh',
      }),
    });
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({
      action: 'Allow',
      via: 'rule',
      decidedBy: { policy: 'backend', ruleIndex: 0 },
      policies: ['backend'],
      match: {
        list: 'allow',
        index: 1,
        spiffeID: { type: 'Prefix', value: 'spiffe://default.zone-2.mesh.local' },
        sni: { type: 'Exact', value: 'backend.mesh' },
      },
      ignoredPolicies: {
        policies: ['allow-all-from'],
        reason: 'from-policies ignored: rules policy backend selects this inbound',
      },
    });
    await new Promise((resolve) => http.close(resolve));
  });
});
