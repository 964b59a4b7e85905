// The bench's requests, on the Envoy-side toolkit (kit/): a realistic HTTP CheckRequest as a
// sidecar sends it, the gRPC length-prefixed frame, and a workload certificate made once whose
// SPIFFE service name can be renumbered in place to get many distinct client identities cheaply.
import { envoyUrlEncode, makeCa, makeWorkloadCert, pemFromDer } from '../../kit/certs.mjs';
import { encodeSidecarCheck } from '../../kit/sidecar.mjs';

export { grpcFrame } from '../../kit/wire.mjs';
export { envoyUrlEncode };
export const pemOf = pemFromDer;

/** What a browser behind the sidecar sends besides the pseudo-headers and x-request-id. */
const HEADERS = {
  accept: 'application/json, text/plain, */*',
  'accept-encoding': 'gzip, deflate, br',
  'accept-language': 'en-US,en;q=0.9,de;q=0.8',
  authorization: `Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.${'eyJzdWIiOiJ1c2VyLTQyIiwic2NvcGUiOiJvcmRlcnM6cmVhZCJ9'}.c2lnbmF0dXJl`,
  'cache-control': 'no-cache',
  'content-type': 'application/json',
  cookie: 'session=9f8e7d6c5b4a39281706f5e4d3c2b1a0; theme=dark; locale=en',
  origin: 'https://shop.example.com',
  referer: 'https://shop.example.com/orders/8c1f2e3d',
  'user-agent':
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36',
  'x-b3-parentspanid': '5b4a39281706f5e4',
  'x-b3-sampled': '1',
  'x-b3-spanid': '9f8e7d6c5b4a3928',
  'x-b3-traceid': '80f198ee56343ba864fe8b2a57d3eff7',
  'x-envoy-attempt-count': '1',
  'x-envoy-expected-rq-timeout-ms': '15000',
  'x-envoy-internal': 'true',
  'x-forwarded-for': '10.42.7.19',
  'x-forwarded-proto': 'https',
  'x-tenant-id': 'acme-corp',
  'x-client-version': '7.12.3',
  'x-feature-flags': 'new-checkout,fast-search',
  traceparent: '00-80f198ee56343ba864fe8b2a57d3eff7-9f8e7d6c5b4a3928-01',
  tracestate: 'vendor=opaque-value',
  'content-length': '0',
};

/**
 * An Envoy-like HTTP CheckRequest: source certificate (URL-encoded PEM) and principal, destination
 * principal and labels, 30 request headers, context extensions.
 */
export function checkRequest({
  certificate,
  sourcePrincipal,
  destination = 'backend',
  requestId = 'b8a3c1d2-7e6f-4a5b-9c8d-0e1f2a3b4c5d',
}) {
  return encodeSidecarCheck({
    client: { principal: sourcePrincipal, ...(certificate ? { certificate } : {}) },
    destination: {
      principal: `spiffe://default/${destination}`,
      labels: { 'kuma.io/service': destination, version: 'v1', 'kuma.io/zone': 'zone-1' },
    },
    http: {
      id: requestId,
      method: 'GET',
      path: '/api/v1/orders/8c1f2e3d?expand=items,customer&limit=50',
      host: `${destination}.mesh:8080`,
      size: 0,
      headers: HEADERS,
    },
    contextExtensions: { virtual_host: 'backend', route: 'orders' },
  });
}

export const SERVICE_DIGITS = 8;
/**
 * A CA-signed P-256 workload certificate as Kuma issues them: spiffe://default/<prefix>-00000000 and
 * kuma:// tags as URI SANs. Returns its DER and where the 8 service digits sit in it, so that
 * `renumber` can give each request a distinct identity without signing again (mtp-authz reads
 * the SANs; Envoy has already verified the chain).
 */
export function workloadCertificate(prefix) {
  const service = `${prefix}-${'0'.repeat(SERVICE_DIGITS)}`;
  const { der } = makeWorkloadCert({
    ca: makeCa('default'),
    uris: [
      `spiffe://default/${service}`,
      'kuma://kuma.io/zone/zone-1',
      'kuma://env/prod',
      'kuma://version/v1',
      'kuma://team/payments',
      `kuma://kuma.io/service/${service}`,
    ],
  });
  const bytes = Buffer.from(der);
  const marker = Buffer.from(`spiffe://default/${service}`);
  const at = bytes.indexOf(marker);
  if (at < 0) throw new Error('SAN not found in the certificate');
  return { der: bytes, digitsAt: at + marker.length - SERVICE_DIGITS, service };
}

/**
 * The certificate with its service number set to n (into `into`, reused). The last four bytes of
 * the signature are set to n as well: issued certificates differ in their signatures, and
 * mtp-authz's identity cache relies on that (it buckets certificates by their tail).
 */
export function renumber(cert, n, into = Buffer.from(cert.der)) {
  into.write(String(n).padStart(SERVICE_DIGITS, '0'), cert.digitsAt, 'latin1');
  into.writeUInt32BE(n % 2 ** 32, into.length - 4);
  return into;
}
