// A small HTTP/2 gRPC load client for the modes h2load cannot drive: h2load sends one fixed body,
// and the cache-miss and RSS modes need a new client identity on every request. Each request
// carries the bench's certificate renumbered with a fresh counter value (a distinct SPIFFE service,
// so both the identity cache and the decision cache miss), built while the previous answers are
// in flight. Every answer is checked: HTTP 200, trailer grpc-status 0, and the CheckResponse status
// code (0 allow / 7 deny) must be the expected one.
// Usage: node bench/h2-client.mjs '{"port":…,"connections":4,"streams":25,"seconds":5 | "count":N,
//   "expect":"allow","distinct":true,"repeat":1,"start":0}'   → one JSON line on stdout.
//   repeat: how many requests in a row carry each identity (2: the identity cache admits them).
import http2 from 'node:http2';
import {
  checkRequest,
  envoyUrlEncode,
  grpcFrame,
  pemOf,
  renumber,
  workloadCertificate,
} from './lib/wire.mjs';
import { grpcRequestHeaders } from '../kit/wire.mjs';

const opts = JSON.parse(process.argv[2] ?? '{}');
const {
  port,
  connections = 4,
  streams = 25,
  seconds,
  count,
  expect = 'allow',
  distinct = true,
  repeat = 1,
} = opts;
const warmupMs = (opts.warmupSeconds ?? 1) * 1000;
const cert = opts.cert ?? workloadCertificate('web');
if (opts.cert) cert.der = Buffer.from(opts.cert.der, 'base64');
const der = Buffer.from(cert.der);
let counter = (opts.start ?? 0) * repeat;

function nextFrame() {
  const n = distinct ? Math.floor(counter++ / repeat) : 0;
  renumber(cert, n, der);
  const certificate = envoyUrlEncode(pemOf(der));
  const service = `web-${String(n).padStart(8, '0')}`;
  return grpcFrame(checkRequest({ certificate, sourcePrincipal: `spiffe://default/${service}` }));
}
const fixed = distinct ? undefined : nextFrame();

const HEADERS = grpcRequestHeaders();
const wantCode = expect === 'allow' ? 0 : 7;
const stats = { sent: 0, done: 0, ok: 0, wrongDecision: 0, errors: 0 };
const latencies = [];
const started = performance.now();
const deadline = seconds === undefined ? Infinity : started + seconds * 1000;
let stopping = false;

function finish() {
  if (stopping) return;
  stopping = true;
  const wall = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p) =>
    latencies.length === 0
      ? null
      : Number(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))].toFixed(3));
  console.log(
    JSON.stringify({
      ...stats,
      wall_s: Number(wall.toFixed(2)),
      rps: Math.round(stats.done / wall),
      p50_ms: pct(0.5),
      p99_ms: pct(0.99),
      lastIdentity: Math.floor((counter - 1) / repeat),
    }),
  );
  for (const s of sessions) s.close();
  setTimeout(() => process.exit(0), 100).unref();
}

const sessions = [];
function fire(session) {
  if (stopping) return;
  if (performance.now() >= deadline || (count !== undefined && stats.sent >= count)) {
    if (stats.done === stats.sent) finish();
    return;
  }
  stats.sent++;
  const t0 = performance.now();
  const req = session.request(HEADERS);
  const chunks = [];
  let grpcStatus;
  req.on('response', (headers) => {
    if (headers['grpc-status'] !== undefined) grpcStatus = headers['grpc-status'];
  });
  req.on('trailers', (trailers) => {
    grpcStatus = trailers['grpc-status'];
  });
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('error', () => {});
  req.on('close', () => {
    stats.done++;
    const body = Buffer.concat(chunks);
    if (grpcStatus !== '0' || body.length < 7) stats.errors++;
    else if ((body[6] === 0 ? 0 : body[7] === 0x08 ? body[8] : -1) !== wantCode) stats.wrongDecision++;
    else stats.ok++;
    if (t0 - started >= warmupMs) latencies.push(performance.now() - t0);
    fire(session);
  });
  req.end(fixed ?? nextFrame());
}

for (let c = 0; c < connections; c++) {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  sessions.push(session);
  for (let s = 0; s < streams; s++) fire(session);
}
