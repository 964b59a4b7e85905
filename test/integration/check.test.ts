/**
 * Check over the wire: a grpc-js client on loopback speaks to the real method path exactly as
 * Envoy does (maps as entries, URL-encoded PEM in source.certificate) and reads the answers.
 */
import { describe, expect, it } from 'vitest';
import { type CheckRequestInit, connect, type DecodedCheckResponse, type TestClient } from '../authz/wire.js';
import { makeWorkloadCert } from '../support/certs.js';
import { meshDoc, mtp, policySet, service, serviceSubset, subset } from '../support/policies.js';
import { serveForFile, startInProcess } from '../support/server.js';

const SET = policySet(
  [
    mtp('allow-web', service('backend'), [[service('web'), 'Allow']]),
    mtp('try-ops', service('backend'), [[service('ops'), 'AllowWithShadowDeny']]),
    mtp('deny-evil', service('backend'), [[service('evil'), 'Deny']]),
    mtp('lock-v2', serviceSubset('backend', { version: 'v2' }), [[subset({ env: 'prod' }), 'Deny']]),
    mtp('prod-only', service('vault'), [[subset({ env: 'prod' }), 'Allow']]),
    mtp('lax-allow', service('backend'), [[service('web'), 'Allow']], { mesh: 'lax' }),
  ],
  [meshDoc('open', 'disabled'), meshDoc('lax', 'permissive')],
);

const cert = (...uris: string[]): string => makeWorkloadCert({ uris }).urlEncoded;
const WEB = cert('spiffe://default/web', 'kuma://env/prod');
const OPS = cert('spiffe://default/ops');
const EVIL = cert('spiffe://default/evil', 'kuma://env/prod');
const STRANGER = cert('spiffe://default/stranger');

function request(
  source: CheckRequestInit['source'],
  destinationPrincipal = 'spiffe://default/backend',
  extra: Partial<CheckRequestInit> = {},
): CheckRequestInit {
  return {
    ...(source === undefined ? {} : { source }),
    destination: { principal: destinationPrincipal },
    http: { id: 'r1', method: 'GET', host: 'backend', path: '/', headers: { 'x-request-id': 'r1' } },
    ...extra,
  };
}

const DENIED = { httpStatus: 403, body: 'RBAC: access denied', headers: [] };

let client: TestClient;

serveForFile(SET, (opened) => ({ client } = opened));

describe('decisions, one per via', () => {
  it('allows by rule, with an empty ok_response and the deciding policy', async () => {
    expect(await client.check(request({ certificate: WEB }))).toEqual({
      code: 0,
      ok: { headers: [] },
      metadata: { enforced_engine_result: 'allowed', enforced_effective_policy_id: 'allow-web' },
      httpResponse: 'okResponse',
    } satisfies DecodedCheckResponse);
  });

  it('denies by rule with status 7, a 403 denied_response and the deciding policy', async () => {
    expect(await client.check(request({ certificate: EVIL }))).toEqual({
      code: 7,
      denied: DENIED,
      metadata: { enforced_engine_result: 'denied', enforced_effective_policy_id: 'deny-evil' },
      httpResponse: 'deniedResponse',
    } satisfies DecodedCheckResponse);
  });

  it('lets AllowWithShadowDeny through and reports the shadow denial', async () => {
    expect(await client.check(request({ certificate: OPS }))).toEqual({
      code: 0,
      ok: { headers: [] },
      metadata: {
        enforced_engine_result: 'allowed',
        enforced_effective_policy_id: 'try-ops',
        shadow_engine_result: 'denied',
        shadow_effective_policy_id: 'try-ops',
      },
      httpResponse: 'okResponse',
    } satisfies DecodedCheckResponse);
  });

  const deniedWithoutPolicy = {
    code: 7,
    denied: DENIED,
    metadata: { enforced_engine_result: 'denied' },
    httpResponse: 'deniedResponse',
  };
  const allowedWithoutPolicy = {
    code: 0,
    ok: { headers: [] },
    metadata: { enforced_engine_result: 'allowed' },
    httpResponse: 'okResponse',
  };

  it.each<[string, CheckRequestInit, object]>([
    ['no-matching-from', request({ certificate: STRANGER }), deniedWithoutPolicy],
    ['no-policy', request({ certificate: WEB }, 'spiffe://default/lonely'), deniedWithoutPolicy],
    ['mtls-disabled', request(undefined, 'spiffe://open/backend'), allowedWithoutPolicy],
    ['permissive-plaintext', request(undefined, 'spiffe://lax/backend'), allowedWithoutPolicy],
    ['no-identity', request(undefined), deniedWithoutPolicy],
    ['mesh-mismatch', request({ certificate: cert('spiffe://other/web') }), deniedWithoutPolicy],
    ['invalid-identity', request({ certificate: 'not-a-certificate' }), deniedWithoutPolicy],
    [
      'invalid-identity (SPIFFE IDs of two meshes)',
      request({ certificate: cert('spiffe://default/web', 'spiffe://other/web') }),
      deniedWithoutPolicy,
    ],
    ['no-destination', request({ certificate: WEB }, ''), deniedWithoutPolicy],
    ['no-destination (not a SPIFFE ID)', request({ certificate: WEB }, 'backend'), deniedWithoutPolicy],
  ])('%s', async (_via, init, expected) => {
    expect(await client.check(init)).toEqual(expected);
  });

  it('falls back to source.principal when no certificate is sent', async () => {
    const answer = await client.check(request({ principal: 'spiffe://default/web' }));
    expect(answer.metadata).toEqual({
      enforced_engine_result: 'allowed',
      enforced_effective_policy_id: 'allow-web',
    });
  });

  it('reads the kuma:// tags of the certificate', async () => {
    expect((await client.check(request({ certificate: WEB }, 'spiffe://default/vault'))).code).toBe(0);
    expect((await client.check(request({ certificate: STRANGER }, 'spiffe://default/vault'))).code).toBe(7);
  });

  it('never takes identity from headers', async () => {
    const forged = request(undefined, 'spiffe://default/backend', {
      http: {
        method: 'GET',
        headers: {
          'x-forwarded-client-cert': 'By=spiffe://default/backend;URI=spiffe://default/web',
          'x-envoy-downstream-service-cluster': 'web',
          'x-envoy-peer-metadata-id': 'sidecar~10.0.0.1~web',
        },
      },
    });
    expect((await client.check(forged)).code).toBe(7);
  });
});

describe('the network filter (no request attributes)', () => {
  const tcp = (certificate: string): CheckRequestInit => ({
    source: { certificate },
    destination: { principal: 'spiffe://default/backend' },
  });

  it('allows with status 0 and no HTTP response', async () => {
    expect(await client.check(tcp(WEB))).toEqual({
      code: 0,
      metadata: { enforced_engine_result: 'allowed', enforced_effective_policy_id: 'allow-web' },
      httpResponse: undefined,
    });
  });

  it('denies with status 7 (denied_response is sent and ignored by Envoy)', async () => {
    expect(await client.check(tcp(EVIL))).toMatchObject({
      code: 7,
      metadata: { enforced_engine_result: 'denied' },
    });
  });

  it('reports shadow denials too', async () => {
    expect((await client.check(tcp(OPS))).metadata.shadow_engine_result).toBe('denied');
  });
});

describe('destination tags', () => {
  // lock-v2 selects backend inbounds tagged version=v2 and denies env=prod clients there.
  const locked = { enforced_engine_result: 'denied', enforced_effective_policy_id: 'lock-v2' };
  const open = { enforced_engine_result: 'allowed', enforced_effective_policy_id: 'allow-web' };
  const web = (extra: Partial<CheckRequestInit> = {}, labels?: Record<string, string>): CheckRequestInit => ({
    source: { certificate: WEB },
    destination: { principal: 'spiffe://default/backend', ...(labels === undefined ? {} : { labels }) },
    ...extra,
  });
  const ext = (tags: string) => ({ contextExtensions: { 'mtp.destination-tags': tags } });

  it('reads them from the context extension', async () => {
    expect((await client.check(web(ext('version=v2')))).metadata).toEqual(locked);
  });

  it('reads them from the x-mtp-destination-tags metadata', async () => {
    expect((await client.check(web(), { 'x-mtp-destination-tags': 'version=v2' })).metadata).toEqual(locked);
  });

  it('reads them from the destination labels', async () => {
    expect((await client.check(web({}, { version: 'v2' }))).metadata).toEqual(locked);
  });

  it('prefers the extension over metadata and labels', async () => {
    const answer = await client.check(web(ext('version=v1'), { version: 'v2' }), {
      'x-mtp-destination-tags': 'version=v2',
    });
    expect(answer.metadata).toEqual(open);
  });

  it('prefers metadata over labels', async () => {
    const answer = await client.check(web({}, { version: 'v2' }), { 'x-mtp-destination-tags': 'version=v1' });
    expect(answer.metadata).toEqual(open);
  });

  it('denies a malformed tag text with no-destination', async () => {
    expect((await client.check(web(ext('version')))).metadata).toEqual({ enforced_engine_result: 'denied' });
    expect((await client.check(web(), { 'x-mtp-destination-tags': 'a=1,a=2' })).code).toBe(7);
  });

  it('keeps kuma.io/service from the principal', async () => {
    const answer = await client.check(web(ext('kuma.io/service=vault,version=v1')));
    expect(answer.metadata).toEqual(open);
  });
});

describe('policy swaps', () => {
  it('answers from the new set after a swap', async () => {
    const local = await startInProcess(SET);
    const c = connect(local.target);
    try {
      expect((await c.check(request({ certificate: WEB }))).code).toBe(0);
      local.swap(policySet([mtp('deny-all', service('backend'), [[subset({}), 'Deny']])]));
      expect((await c.check(request({ certificate: WEB }))).metadata.enforced_effective_policy_id).toBe(
        'deny-all',
      );
    } finally {
      c.close();
      await local.stop();
    }
  });
});
