// The Check handler alone, in process: what one call costs in CPU time and in bytes allocated
// (every allocated byte is later paid for by the garbage collector, on top of grpc-js's own). It
// is wired as `serve` wires it (decision and identity caches, metrics, decision log) over the
// same request and policies as load.mjs, and compared with a baseline measured in the same run:
// protobufjs decoding the same request into objects (what a handler built on generated code pays
// before deciding anything).
// Usage: node bench/handler.mjs [--quick]   (needs `npm run build` first)
import { spawnSync } from 'node:child_process';
import { GCProfiler } from 'node:v8';
import { fileURLToPath } from 'node:url';

// Allocation is read off the heap between two points with no collection in between: that needs a
// young generation large enough for a whole round, which is a start-up flag.
const FLAGS = ['--min-semi-space-size=256', '--max-semi-space-size=256', '--expose-gc'];
if (!process.execArgv.includes('--expose-gc')) {
  const run = spawnSync(
    process.execPath,
    [...FLAGS, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    {
      stdio: 'inherit',
    },
  );
  process.exit(run.status ?? 1);
}

const { Writable } = await import('node:stream');
const { loadServiceProto } = await import('../kit/wire.mjs');
const { Registry } = await import('prom-client');
const { createCheckHandler } = await import('../dist/authz/check.js');
const { clientFromCertificate } = await import('../dist/authz/certificate.js');
const { cachedCertificateReader, DecisionCache } = await import('../dist/decision/cache.js');
const { createDecisionLog } = await import('../dist/observability/decision-log.js');
const { createMetrics } = await import('../dist/observability/metrics.js');
const { compileTables } = await import('../dist/policy/compile.js');
const { ServiceState } = await import('../dist/authz/state.js');
const { checkRequest, envoyUrlEncode, pemOf, renumber, workloadCertificate } = await import('./lib/wire.mjs');
const { writeBenchPolicies } = await import('./lib/policies.mjs');
const { loadPolicies } = await import('../dist/policy/load.js');

const quick = process.argv.includes('--quick');
const CALLS = quick ? 10_000 : 25_000; // the baseline allocates ~7 KB a call: a round must fit the young generation
const ROUNDS = quick ? 3 : 11;

const { set } = await loadPolicies([writeBenchPolicies()]);
const state = new ServiceState({
  ...compileTables(set, 1),
  set,
  generation: 1,
  loadedAt: new Date(),
  files: [],
});
const metrics = createMetrics(new Registry());
const observer = { lookup: (cache, hit) => metrics.recordCacheLookup(cache, hit) };
const identities = cachedCertificateReader(clientFromCertificate, 10_000, observer);
const discard = new Writable({ write: (_chunk, _encoding, done) => done() });
const handler = createCheckHandler(state, identities.read, {
  decisions: new DecisionCache(100_000, observer),
  metrics,
  decisionLog: createDecisionLog({ destination: discard }),
});

const web = workloadCertificate('web');
const bodyOf = (der) =>
  checkRequest({
    certificate: envoyUrlEncode(pemOf(der)),
    sourcePrincipal: `spiffe://default/${web.service}`,
  });
// grpc-js hands every call its own Buffer: rotate through copies so nothing is keyed by object.
const hitRequests = Array.from({ length: 64 }, () => Buffer.from(bodyOf(web.der)));
const first = handler.check(hitRequests[0], undefined);
if (!first.ok || first.decision.action !== 'Allow')
  throw new Error(`unexpected answer: ${JSON.stringify(first)}`);

// Cache misses: a new identity per call (renumbered SPIFFE service), made before timing.
let nextIdentity = 1;
function missRequests(n) {
  const der = Buffer.from(web.der);
  return Array.from({ length: n }, () => bodyOf(renumber(web, nextIdentity++, der)));
}

const CheckRequest = loadServiceProto().lookupType('envoy.service.auth.v3.CheckRequest');

/** One round: CPU µs and heap bytes per call, or bytes = null when a collection ran mid-round. */
function round(requests, call) {
  globalThis.gc();
  const collections = new GCProfiler();
  collections.start();
  const before = process.memoryUsage().heapUsed;
  const started = process.hrtime.bigint();
  for (let i = 0; i < requests.length; i++) call(requests[i]);
  const ns = Number(process.hrtime.bigint() - started);
  const bytes = process.memoryUsage().heapUsed - before;
  const collected = collections.stop().statistics.length > 0;
  return { us: ns / requests.length / 1000, bytes: collected ? null : bytes / requests.length };
}

const median = (xs) => {
  const s = xs.filter((x) => x !== null).sort((a, b) => a - b);
  return s.length === 0 ? null : s[Math.floor(s.length / 2)];
};

function measure(name, makeRequests, call) {
  for (let w = 0; w < 3; w++) round(makeRequests(), call); // warm-up: optimised code, full caches
  const rounds = Array.from({ length: ROUNDS }, () => round(makeRequests(), call));
  const us = median(rounds.map((r) => r.us));
  const bytes = median(rounds.map((r) => r.bytes));
  return {
    name,
    us_per_call: Number(us.toFixed(2)),
    bytes_per_call: bytes === null ? null : Math.round(bytes),
  };
}

const rotating = () => Array.from({ length: CALLS }, (_, i) => hitRequests[i % hitRequests.length]);
const check = (request) => handler.check(request, undefined);
const results = [
  measure('baseline: protobufjs decode', rotating, (request) => CheckRequest.decode(request)),
  measure('cache hit', rotating, check),
  measure('cache miss (new identity)', () => missRequests(quick ? 2_000 : 10_000), check),
];
const [baseline, hit, miss] = results;
for (const r of results) console.log(JSON.stringify(r));
console.log('');
console.log('| handler, per call | µs | bytes allocated | µs vs baseline |');
console.log('| --- | --- | --- | --- |');
for (const r of results) {
  const ratio = (r.us_per_call / baseline.us_per_call).toFixed(2);
  console.log(`| ${r.name} | ${r.us_per_call} | ${r.bytes_per_call ?? 'n/a'} | ${ratio} |`);
}
if (hit.us_per_call > baseline.us_per_call || miss.us_per_call <= 0) process.exitCode = 1;
