// Server memory under an HTTP/2 stream flood on the gRPC port, before and after the stream limits.
//
// A client opens 30 connections and on them 25 000 Check streams whose request is never finished
// (the server holds each one open, waiting for its message) plus 5 000 health Watches (which
// stream for as long as the client likes). The server's VmRSS is read from /proc idle, once
// every stream has been asked for, and its peak (VmHWM); a well-behaved Check on a new
// connection is timed during the flood.
//
// "before" runs the server without the limits (--grpc-max-concurrent-streams 2147483647
// --max-health-watches 1000000, i.e. what a connection could open before the flags existed);
// "after" runs it with the default flags (256 streams per connection, 1 000 Watches).
//
//   npm run build && node bench/stream-flood.mjs
import http2 from 'node:http2';
import { readFileSync } from 'node:fs';
import { startServe } from '../kit/serve.mjs';
import { CHECK_METHOD, grpcRequestHeaders, HEALTH_WATCH_METHOD } from '../kit/wire.mjs';
import { writeBenchPolicies } from './lib/policies.mjs';
import { checkRequest, grpcFrame } from './lib/wire.mjs';

const CONNECTIONS = 30;
const CHECK_STREAMS = 25_000;
const WATCHES = 5_000;
/** How long the flood is held; RSS is sampled every second and the highest sample reported. */
const HOLD_MS = 12_000;

const policies = writeBenchPolicies();
const probeFrame = grpcFrame(checkRequest({ sourcePrincipal: 'spiffe://default/web-00000000' }));
const watchFrame = grpcFrame(Buffer.alloc(0));

async function serve(extra) {
  const server = await startServe(['--policies', policies, '--log-level', 'info', ...extra], {
    stdout: 'discard',
  });
  return { child: server.child, port: server.grpcPort };
}

function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const mb = (key) => Math.round(Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 102.4) / 10;
  return { rss: mb('VmRSS'), peak: mb('VmHWM') };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function session(port) {
  const h2 = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 65_535 } });
  h2.on('error', () => {});
  return new Promise((resolve) => h2.once('remoteSettings', () => resolve(h2)));
}

function open(h2, path, frame, end) {
  const stream = h2.request(grpcRequestHeaders(path));
  stream.on('error', () => {});
  stream.on('data', () => {});
  if (end) stream.end(frame);
  else stream.write(frame.subarray(0, 3)); // half a frame: the server waits for the rest
  return stream;
}

/** One Check on its own connection: milliseconds to its answer, and its grpc-status. */
async function probe(port) {
  const started = performance.now();
  const h2 = await session(port);
  const status = await new Promise((resolve) => {
    const stream = h2.request(grpcRequestHeaders());
    stream.on('error', () => resolve('error'));
    stream.on('data', () => {});
    stream.on('trailers', (t) => resolve(t['grpc-status']));
    stream.end(probeFrame);
  });
  h2.destroy();
  return { ms: Math.round(performance.now() - started), grpcStatus: status };
}

async function flood(label, extra) {
  const { child, port } = await serve(extra);
  await sleep(1000);
  const idle = memory(child.pid);
  const sessions = await Promise.all(Array.from({ length: CONNECTIONS }, () => session(port)));
  const advertised = sessions[0].remoteSettings.maxConcurrentStreams;
  for (let i = 0; i < CHECK_STREAMS; i++) {
    open(sessions[i % CONNECTIONS], CHECK_METHOD, probeFrame, false);
  }
  for (let i = 0; i < WATCHES; i++) open(sessions[i % CONNECTIONS], HEALTH_WATCH_METHOD, watchFrame, true);
  let flood_rss = 0;
  for (let waited = 0; waited < HOLD_MS; waited += 1000) {
    await sleep(1000);
    flood_rss = Math.max(flood_rss, memory(child.pid).rss);
  }
  const during = memory(child.pid);
  // Streams the client got to open over the run (HEADERS sent). With the limits, at most 256 per
  // connection are open at once; refused Watches free their slot, so queued streams follow.
  const sent = sessions.reduce((sum, h2) => sum + ((h2.state.nextStreamID ?? 1) - 1) / 2, 0);
  const check = await probe(port);
  for (const h2 of sessions) h2.destroy();
  child.kill('SIGKILL');
  return {
    label,
    advertised_streams_per_connection: advertised,
    idle_rss_mb: idle.rss,
    streams_asked_for: CHECK_STREAMS + WATCHES,
    streams_opened_over_the_run: sent,
    streams_open_at_once_at_most:
      advertised >= 2 ** 31 - 1 ? CHECK_STREAMS + WATCHES : CONNECTIONS * advertised,
    flood_rss_mb: flood_rss,
    peak_rss_mb: during.peak,
    check_during_flood: check,
  };
}

const before = await flood('before (no stream or Watch limits)', [
  '--grpc-max-concurrent-streams',
  '2147483647',
  '--max-health-watches',
  '1000000',
]);
console.log(JSON.stringify(before));
const after = await flood('after (default limits)', []);
console.log(JSON.stringify(after));
