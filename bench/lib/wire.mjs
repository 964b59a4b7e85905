// The bench's own CheckRequest writer (plain JS, field numbers of proto/ and SPEC §3), the gRPC
// length-prefixed frame, and a workload certificate made once with the openssl CLI whose SPIFFE
// service name can be renumbered in place to get many distinct client identities cheaply.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function varint(n) {
  const out = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}
const bytes = (field, payload) => {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
  return Buffer.concat([varint((field << 3) | 2), varint(body.length), body]);
};
const message = (field, parts) => bytes(field, Buffer.concat(parts));
const mapEntries = (field, entries) =>
  Object.entries(entries).map(([k, v]) => message(field, [bytes(1, k), bytes(2, v)]));

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
  const headers = {
    ':authority': `${destination}.mesh:8080`,
    ':method': 'GET',
    ':path': '/api/v1/orders/8c1f2e3d?expand=items,customer&limit=50',
    ':scheme': 'http',
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
    'x-request-id': requestId,
    'x-tenant-id': 'acme-corp',
    'x-client-version': '7.12.3',
    'x-feature-flags': 'new-checkout,fast-search',
    traceparent: '00-80f198ee56343ba864fe8b2a57d3eff7-9f8e7d6c5b4a3928-01',
    tracestate: 'vendor=opaque-value',
    'content-length': '0',
  };
  const source = [bytes(4, sourcePrincipal), ...(certificate ? [bytes(5, certificate)] : [])];
  const dest = [
    bytes(4, `spiffe://default/${destination}`),
    ...mapEntries(3, { 'kuma.io/service': destination, version: 'v1', 'kuma.io/zone': 'zone-1' }),
  ];
  const http = [
    bytes(1, requestId),
    bytes(2, 'GET'),
    ...mapEntries(3, headers),
    bytes(4, headers[':path']),
    bytes(5, headers[':authority']),
    bytes(6, 'http'),
    bytes(10, 'HTTP/1.1'),
  ];
  const attributes = [
    message(1, source),
    message(2, dest),
    message(4, [message(2, http)]),
    ...mapEntries(10, { virtual_host: 'backend', route: 'orders' }),
  ];
  return message(1, attributes);
}

/** A gRPC message frame: 0 (no compression), 4-byte big-endian length, the message. */
export function grpcFrame(msg) {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
}

const ESCAPES = { '\n': '%0A', ' ': '%20', '+': '%2B', '/': '%2F', '=': '%3D' };
/** The characters Envoy escapes in urlEncodedPemEncodedPeerCertificate(). */
export const envoyUrlEncode = (pem) => pem.replace(/[\n +/=]/g, (c) => ESCAPES[c]);

export function pemOf(der) {
  const b64 = der.toString('base64');
  let body = '';
  for (let i = 0; i < b64.length; i += 64) body += `${b64.slice(i, i + 64)}\n`;
  return `-----BEGIN CERTIFICATE-----\n${body}-----END CERTIFICATE-----\n`;
}

export const SERVICE_DIGITS = 8;
/**
 * A CA-signed P-256 workload certificate as Kuma issues them: spiffe://default/<prefix>-00000000 and
 * kuma:// tags as URI SANs. Returns its DER and where the 8 service digits sit in it, so that
 * `renumber` can give each request a distinct identity without signing again (mtp-authz reads
 * the SANs; Envoy has already verified the chain).
 */
export function workloadCertificate(prefix) {
  const dir = mkdtempSync(join(tmpdir(), 'mtp-bench-cert-'));
  const run = (args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  try {
    run(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key']);
    run([
      'req',
      '-x509',
      '-new',
      '-key',
      'ca.key',
      '-subj',
      '/O=kuma/CN=default',
      '-days',
      '30',
      '-out',
      'ca.pem',
    ]);
    run(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'leaf.key']);
    run(['req', '-new', '-key', 'leaf.key', '-subj', '/', '-out', 'leaf.csr']);
    const service = `${prefix}-${'0'.repeat(SERVICE_DIGITS)}`;
    const sans = [
      `URI:spiffe://default/${service}`,
      'URI:kuma://kuma.io/zone/zone-1',
      'URI:kuma://env/prod',
      'URI:kuma://version/v1',
      'URI:kuma://team/payments',
      `URI:kuma://kuma.io/service/${service}`,
    ];
    writeFileSync(
      join(dir, 'ext.cnf'),
      `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=critical,${sans.join(',')}\n`,
    );
    run([
      'x509',
      '-req',
      '-in',
      'leaf.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '30',
      '-extfile',
      'ext.cnf',
      '-outform',
      'DER',
      '-out',
      'leaf.der',
    ]);
    const der = readFileSync(join(dir, 'leaf.der'));
    const marker = Buffer.from(`spiffe://default/${service}`);
    const at = der.indexOf(marker);
    if (at < 0) throw new Error('SAN not found in the certificate');
    return { der, digitsAt: at + marker.length - SERVICE_DIGITS, service };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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
