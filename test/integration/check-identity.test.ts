/**
 * Certificate identity over the wire, on the service `serve` composes (settings, metrics, decision
 * log): certificates an attacker could get signed when a CA's SAN checks are loose, sent as Envoy
 * sends them. Each must be denied exactly where Kuma's RBAC would deny, with the `via` the decision
 * log reports, and never be mistaken for a plaintext client.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCheckHandler } from '../../src/authz/check.js';
import { clientFromCertificate } from '../../src/authz/certificate.js';
import { createDecisionLog } from '../../src/observability/decision-log.js';
import { createLogger } from '../../src/observability/log.js';
import { type RunningService, start } from '../../src/service/single.js';
import { readSettings, type Settings } from '../../src/settings/settings.js';
import { type CheckRequestInit, connect, encodeCheckRequest, type TestClient } from '../authz/wire.js';
import { dnsName, envoyUrlEncode, generalNames, makeWorkloadCert, uriName } from '../support/certs.js';
import { mesh, mtp, service as meshService, subset } from '../support/policies.js';
import { policiesYaml } from '../support/policy-yaml.js';
import { parseMetrics, sampleValue } from '../support/prom-parse.js';

const POLICIES = `type: Mesh
name: perm
mtls: {enabledBackend: ca, backends: [{name: ca, type: builtin, mode: PERMISSIVE}]}
---
type: Mesh
name: open
---
${policiesYaml(
  mtp('prod-only', meshService('vault'), [[subset({ env: 'prod' }), 'Allow']]),
  mtp('web-only', meshService('backend'), [[meshService('web'), 'Allow']]),
  // Everyone in the PERMISSIVE mesh may call: only the identity check can deny.
  mtp('everyone', mesh(), [[mesh(), 'Allow']], { mesh: 'perm' }),
)}`;

/** Small, so the bound is shown to come from the flag and not the default. */
const MAX_SANS = 64;

interface LoggedDecision {
  decision: string;
  via: string;
  policy: string | null;
}

let service: RunningService;
let settings: Settings;
let client: TestClient;
const logged: LoggedDecision[] = [];

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mtp-identity-'));
  writeFileSync(join(dir, 'policies.yaml'), POLICIES);
  const read = readSettings(
    [
      ...['--policies', dir, '--grpc-address', '127.0.0.1:0', '--http-address', '127.0.0.1:0'],
      ...['--max-certificate-sans', String(MAX_SANS), '--log-allowed'],
    ],
    {},
  );
  if (read.kind !== 'settings') throw new Error(JSON.stringify(read));
  settings = read.settings;
  const decisionLog = createDecisionLog({
    logAllowed: true,
    timer: false,
    destination: { write: (line: string) => logged.push(JSON.parse(line) as LoggedDecision) },
  });
  service = await start(settings, { log: createLogger('silent'), decisionLog });
  client = connect(`127.0.0.1:${service.grpc.port}`);
});

afterAll(async () => {
  client.close();
  await service.stop();
});

beforeEach(() => {
  logged.length = 0;
});

const cert = (...uris: string[]): string => makeWorkloadCert({ uris }).urlEncoded;

function request(source: CheckRequestInit['source'], destination: string): CheckRequestInit {
  return {
    ...(source === undefined ? {} : { source }),
    destination: { principal: destination },
    http: { method: 'GET', host: 'svc', path: '/' },
  };
}

/** gRPC status code, the decision log's decision and via for one Check. */
async function decided(init: CheckRequestInit): Promise<{ code: number; decision: string; via: string }> {
  const answer = await client.check(init);
  expect(logged).toHaveLength(1);
  const line = logged.pop() as LoggedDecision;
  return { code: answer.code, decision: line.decision, via: line.via };
}

async function counter(name: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${service.http.port}/metrics`);
  return sampleValue(parseMetrics(await res.text()), name, {}) ?? Number.NaN;
}

const allowed = (via: string) => ({ code: 0, decision: 'allow', via });
const denied = (via: string) => ({ code: 7, decision: 'deny', via });

describe('near-tags are not tags', () => {
  const vault = (certificate: string) => request({ certificate }, 'spiffe://default/vault');

  it('allows env=prod itself (the control)', async () => {
    expect(await decided(vault(cert('spiffe://default/web', 'kuma://env/prod')))).toEqual(allowed('rule'));
  });

  it.each([
    ['a fragment', 'kuma://env/prod#x'],
    ['a leading space', ' kuma://env/prod'],
    ['a trailing space', 'kuma://env/prod '],
    ['a query', 'kuma://env/prod?x'],
    ['percent-encoding', 'kuma://env/pr%6Fd'],
    ['an upper-case scheme', 'KUMA://env/prod'],
    ['a crafted list', 'kuma://env/dev, URI:kuma://env/prod'],
  ])('denies env=dev whose certificate also has %s: %s', async (_what, nearTag) => {
    const before = await counter('mtp_authz_identity_ignored_sans_total');
    const answer = await decided(vault(cert('spiffe://default/web', 'kuma://env/dev', nearTag)));
    expect(answer).toEqual(denied('no-matching-from'));
    expect(await counter('mtp_authz_identity_ignored_sans_total')).toBe(before + 1);
  });
});

describe('a certificate is not plaintext', () => {
  const perm = (source: CheckRequestInit['source']) => request(source, 'spiffe://perm/backend');
  const noUriSan = makeWorkloadCert({ uris: [], dnsNames: ['web.perm.svc'], commonName: 'web' }).urlEncoded;

  it('allows a client that presented nothing under PERMISSIVE (the control)', async () => {
    expect(await decided(perm(undefined))).toEqual(allowed('permissive-plaintext'));
    expect(await decided(perm({ certificate: cert('spiffe://perm/web') }))).toEqual(allowed('rule'));
  });

  it.each([
    ['no URI SAN', noUriSan],
    ['only kuma:// SANs', cert('kuma://env/prod', 'kuma://kuma.io/zone/east')],
    ['SPIFFE:// in upper case', cert('SPIFFE://perm/web')],
    ['a SPIFFE ID with a fragment', cert('spiffe://perm/web#x')],
  ])('denies a certificate with %s under PERMISSIVE', async (_what, certificate) => {
    expect(await decided(perm({ certificate }))).toEqual(denied('invalid-identity'));
  });

  it('denies a principal that is not a SPIFFE ID under PERMISSIVE', async () => {
    expect(await decided(perm({ principal: 'web.perm.svc' }))).toEqual(denied('invalid-identity'));
  });

  it('denies such a certificate under STRICT as invalid-identity, and lets it through only when mTLS is disabled', async () => {
    const strict = request({ certificate: noUriSan }, 'spiffe://default/backend');
    expect(await decided(strict)).toEqual(denied('invalid-identity'));
    expect(await decided(request(undefined, 'spiffe://default/backend'))).toEqual(denied('no-identity'));
    expect(await decided(request({ certificate: noUriSan }, 'spiffe://open/backend'))).toEqual(
      allowed('mtls-disabled'),
    );
  });
});

describe('half a PEM', () => {
  const web = makeWorkloadCert({ uris: ['spiffe://default/web'] });
  const backend = (certificate: string) => request({ certificate }, 'spiffe://default/backend');
  const endAt = web.pem.indexOf('-----END CERTIFICATE-----');

  it('allows the whole certificate (the control)', async () => {
    expect(await decided(backend(web.urlEncoded))).toEqual(allowed('rule'));
  });

  it.each([
    ['without its END line', envoyUrlEncode(web.pem.slice(0, endAt))],
    ['with its END line cut short', envoyUrlEncode(web.pem.slice(0, endAt + 12))],
    ['with the END line of the next certificate', envoyUrlEncode(web.pem.slice(0, endAt)) + web.urlEncoded],
    ['with a character that is not base64', envoyUrlEncode(web.pem.replace('MII', 'MI*'))],
  ])('denies a certificate %s', async (_what, certificate) => {
    expect(await decided(backend(certificate))).toEqual(denied('invalid-identity'));
  });
});

describe(`--max-certificate-sans ${MAX_SANS}`, () => {
  const uris = (n: number): string[] => [
    'spiffe://default/web',
    ...Array.from({ length: n - 1 }, (_, i) => `kuma://k${i}/v`),
  ];
  const backend = (certificate: string) => request({ certificate }, 'spiffe://default/backend');

  it(`allows ${MAX_SANS} URI SANs and denies ${MAX_SANS + 1}, counted`, async () => {
    expect(await decided(backend(cert(...uris(MAX_SANS))))).toEqual(allowed('rule'));
    const before = await counter('mtp_authz_identity_too_many_sans_total');
    expect(await decided(backend(cert(...uris(MAX_SANS + 1))))).toEqual(denied('invalid-identity'));
    expect(await counter('mtp_authz_identity_too_many_sans_total')).toBe(before + 1);
  });

  it('applies to POST /explain SAN lists and certificates too', async () => {
    const explain = async (body: object) => {
      const res = await fetch(`http://127.0.0.1:${service.http.port}/explain`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ destinationTags: { 'kuma.io/service': 'backend' }, ...body }),
      });
      expect(res.status).toBe(200);
      return ((await res.json()) as { via: string }).via;
    };
    expect(await explain({ clientSans: uris(MAX_SANS) })).toBe('rule');
    expect(await explain({ clientSans: uris(MAX_SANS + 1) })).toBe('invalid-identity');
    expect(await explain({ clientSans: uris(40_000) })).toBe('invalid-identity');
    expect(await explain({ clientCert: makeWorkloadCert({ uris: uris(MAX_SANS + 1) }).pem })).toBe(
      'invalid-identity',
    );
    expect(await explain({ clientSans: ['kuma://env/prod'] })).toBe('invalid-identity');
  });

  it('decides a certificate with too many SANs in well under 10 ms of handler time', () => {
    // The largest certificate a client can send: as many names as the DER walk reads, padded to
    // just under the size bound, so every byte of it is decoded before the names are counted.
    const long = (i: number) => `kuma://team-${i}/${'x'.repeat(150)}`;
    const names = [uriName('spiffe://default/web')];
    for (let i = 0; i < 998; i++)
      names.push(i % 2 === 0 ? uriName(long(i)) : dnsName(`n${i}.${'y'.repeat(140)}`));
    const huge = makeWorkloadCert({ uris: [], sanValue: generalNames(names) }).urlEncoded;
    expect(huge.length).toBeGreaterThan(200_000);
    expect(huge.length).toBeLessThan(256 * 1024);
    const limits = { maxUriSans: settings.maxCertificateSans };
    const handler = createCheckHandler(service.state, (bytes, start, end) =>
      clientFromCertificate(bytes.toString('latin1', start, end), limits),
    );
    const bytes = encodeCheckRequest(backend(huge));
    // The least of several runs: load on the machine can only add time to a run, never remove it.
    let fastest = Number.POSITIVE_INFINITY;
    for (let run = 0; run < 15; run++) {
      const started = performance.now();
      const outcome = handler.check(bytes, undefined);
      fastest = Math.min(fastest, performance.now() - started);
      expect(outcome.ok && outcome.decision.via).toBe('invalid-identity');
    }
    expect(fastest).toBeLessThan(10);
  });
});
