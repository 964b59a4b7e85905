// Three `serve --store` replicas on one PostgreSQL database (a throw-away cluster, or --store URL):
//
//   convergence  --writes PUTs on A, one after another, each flipping the `probe` policy between
//                Allow and Deny; after each, B and C are asked a Check of the probe destination every
//                millisecond until they answer with the new decision: the time from A's answer
//                until B (and C) serve the write, p50/p99/max
//   throughput   h2load cache-hit Checks on B (pinned to core 0 alone), rounds without writes and
//                rounds during a write storm on A and C (two writers back to back), alternating
//                Q S S Q …; the ratio of the medians, and B's CPU per call in each
//
// Usage: node bench/store.mjs [--quick] [--writes 200] [--store postgres://…] [--cli dist/cli.js]
// (needs `npm run build`, h2load, and PostgreSQL's server binaries unless --store is given)
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { cpuSeconds, h2load, verify } from './lib/h2load.mjs';
import { writeBenchPolicies } from './lib/policies.mjs';
import { startTestDatabase } from './lib/test-database.mjs';
import { checkRequest, envoyUrlEncode, grpcFrame, pemOf, workloadCertificate } from './lib/wire.mjs';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    writes: { type: 'string' },
    store: { type: 'string' },
    cli: { type: 'string', default: 'dist/cli.js' },
  },
});
const ROOT = join(import.meta.dirname, '..');
const quick = values.quick;
const WRITES = Number(values.writes ?? (quick ? 50 : 200));
const D = quick ? 3 : 8; // seconds per throughput round
const PAIRS = quick ? 1 : 3; // each pair is one quiet and one storm round
const CONVERGENCE_TARGET_MS = 250;
const THROUGHPUT_TARGET = 0.9;

if (spawnSync('h2load', ['--version']).error) {
  console.log('store: SKIPPED: h2load is not installed (Debian/Ubuntu: apt-get install -y nghttp2-client)');
  process.exit(0);
}
const pinned = cpus().length >= 2;
const CORE = (n) => (pinned ? ['taskset', '-c', String(n)] : []);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const round = (x, d = 2) => (x === undefined || x === null || Number.isNaN(x) ? null : Number(x.toFixed(d)));
const load = () => loadavg().map((x) => round(x, 2));
// This process (the writers and the convergence probes) shares core 1 with h2load, A and C.
if (pinned) spawnSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });

console.log(
  JSON.stringify({
    machine: { nproc: cpus().length, cpu: cpus()[0]?.model, node: process.version, pinned, loadavg: load() },
  }),
);

// ---------------------------------------------------------------------------------------------
// Database, policies, requests

let db;
let url = values.store;
if (url === undefined) {
  try {
    db = await startTestDatabase();
  } catch (error) {
    console.log(`store: SKIPPED: ${error.message}`);
    process.exit(0);
  }
  url = db.url;
  await pinDatabase(url, 1);
}

/** Moves the postmaster and its processes to `core`; backends forked later inherit it. */
async function pinDatabase(databaseUrl, core) {
  if (!pinned) return;
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const dataDir = (await client.query('SHOW data_directory')).rows[0].data_directory;
  await client.end();
  const postmaster = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const pids = [postmaster];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === postmaster)
        pids.push(Number(entry));
    } catch {
      // ended meanwhile
    }
  }
  for (const pid of pids)
    spawnSync('taskset', ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' });
}

const dir = mkdtempSync(join(tmpdir(), 'mtp-bench-store-'));
const policies = writeBenchPolicies(dir);
const web = workloadCertificate('web');
const requestTo = (destination) =>
  checkRequest({
    certificate: envoyUrlEncode(pemOf(web.der)),
    sourcePrincipal: `spiffe://default/${web.service}`,
    destination,
  });
const allowFrame = join(dir, 'allow.frame');
writeFileSync(allowFrame, grpcFrame(requestTo('backend')));
const probeFrame = grpcFrame(requestTo('probe'));

/** The probe policy: zone-1 clients (web is one) to `probe`, allowed or denied. */
const probePolicy = (action) => `type: MeshTrafficPermission
name: probe
mesh: default
spec:
  targetRef: {kind: MeshService, name: probe}
  from:
    - targetRef: {kind: MeshSubset, tags: {kuma.io/zone: zone-1}}
      default: {action: ${action}}
`;
/** What the storm writes: one of ten unrelated policies, pointed at another service each time. */
const stormPolicy = (k, n) => `type: MeshTrafficPermission
name: storm-${k}
mesh: default
spec:
  targetRef: {kind: MeshService, name: storm-target-${n}}
  from:
    - targetRef: {kind: Mesh}
      default: {action: Allow}
`;

// ---------------------------------------------------------------------------------------------
// Replicas

const children = [];
function startReplica(name, core) {
  const argv = [
    ...CORE(core),
    process.execPath,
    values.cli,
    'serve',
    '--store',
    url,
    '--policies',
    policies,
    '--grpc-address',
    '127.0.0.1:0',
    '--http-address',
    '127.0.0.1:0',
  ];
  const child = spawn(argv[0], argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let text = '';
    const found = {};
    const onData = (chunk) => {
      text += chunk.toString();
      const grpc = /"listener":"grpc"[^\n]*"port":(\d+)/.exec(text);
      const httpPort = /"listener":"http"[^\n]*"port":(\d+)/.exec(text);
      if (grpc) found.port = Number(grpc[1]);
      if (httpPort) found.httpPort = Number(httpPort[1]);
      if (found.port && found.httpPort) {
        child.stderr.off('data', onData);
        child.stderr.resume();
        const session = http2.connect(`http://127.0.0.1:${found.port}`);
        resolve({ name, child, pid: child.pid, session, ...found });
      }
    };
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`replica ${name} exited ${code}: ${text}`)));
  });
}

/** One Check on a replica's session: CheckResponse.status.code (0 allow, 7 deny). */
function check(replica, frame) {
  return new Promise((resolve, reject) => {
    const req = replica.session.request({
      ':method': 'POST',
      ':path': '/envoy.service.auth.v3.Authorization/Check',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('error', reject);
    req.on('close', () => {
      const body = Buffer.concat(chunks);
      resolve({ code: body[6] === 0 ? 0 : body[7] === 0x08 ? body[8] : -1, bytes: body.length });
    });
    req.end(frame);
  });
}

async function put(replica, name, yaml) {
  const res = await fetch(
    `http://127.0.0.1:${replica.httpPort}/meshes/default/meshtrafficpermissions/${name}`,
    {
      method: 'PUT',
      headers: { 'content-type': 'application/yaml' },
      body: yaml,
    },
  );
  const text = await res.text();
  if (res.status !== 200 && res.status !== 201)
    throw new Error(`PUT ${name} on ${replica.name}: ${res.status} ${text}`);
  const version = Number(res.headers.get('x-mtp-store-version'));
  if (!Number.isSafeInteger(version))
    throw new Error(`PUT ${name} on ${replica.name}: no x-mtp-store-version`);
  return version;
}

async function storeVersion(replica) {
  return (await (await fetch(`http://127.0.0.1:${replica.httpPort}/policies`)).json()).storeVersion;
}

async function convergenceHistogram(replica) {
  const text = await (await fetch(`http://127.0.0.1:${replica.httpPort}/metrics`)).text();
  const value = (suffix) =>
    Number(
      /\s([\d.e+-]+)$/.exec(
        text.split('\n').find((l) => l.startsWith(`mtp_authz_store_convergence_seconds_${suffix}`)) ?? '',
      )?.[1],
    );
  const count = value('count');
  return { count, mean_ms: round((value('sum') / count) * 1000, 1) };
}

// ---------------------------------------------------------------------------------------------
// Runs

const results = {};
const problems = [];
const cleanup = () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
};
process.on('exit', cleanup);

try {
  // B alone on core 0 (what the throughput rounds measure); everything else on core 1.
  const [a, b, c] = await Promise.all([startReplica('A', 1), startReplica('B', 0), startReplica('C', 1)]);

  // --- convergence
  let version = await put(a, 'probe', probePolicy('Allow'));
  for (const r of [b, c]) while ((await storeVersion(r)) < version) await sleep(5);
  const lag = { B: [], C: [], both: [], fromSend: [] };
  let readYourWritesMisses = 0;
  let timeouts = 0;
  for (let i = 0; i < WRITES; i++) {
    const action = i % 2 === 0 ? 'Deny' : 'Allow';
    const expected = action === 'Deny' ? 7 : 0;
    const sent = performance.now();
    version = await put(a, 'probe', probePolicy(action));
    const acked = performance.now();
    if ((await check(a, probeFrame)).code !== expected) readYourWritesMisses++;
    const waits = await Promise.all(
      [b, c].map(async (r) => {
        while (performance.now() - acked < 10_000) {
          if ((await check(r, probeFrame)).code === expected) return performance.now();
          await sleep(1);
        }
        timeouts++;
        return performance.now();
      }),
    );
    lag.B.push(waits[0] - acked);
    lag.C.push(waits[1] - acked);
    lag.both.push(Math.max(...waits) - acked);
    lag.fromSend.push(Math.max(...waits) - sent);
  }
  const stats = (xs) => ({
    p50_ms: round(quantile(xs, 0.5), 1),
    p99_ms: round(quantile(xs, 0.99), 1),
    max_ms: round(Math.max(...xs), 1),
  });
  results.convergence = {
    writes: WRITES,
    B: stats(lag.B),
    C: stats(lag.C),
    both: stats(lag.both),
    both_from_send: stats(lag.fromSend),
    read_your_writes_misses: readYourWritesMisses,
    timeouts,
    replica_histogram_B: await convergenceHistogram(b),
    served_versions: {
      A: await storeVersion(a),
      B: await storeVersion(b),
      C: await storeVersion(c),
      last_write: version,
    },
    loadavg: load(),
  };
  if (readYourWritesMisses || timeouts) problems.push(`convergence: ${JSON.stringify(results.convergence)}`);
  console.log(JSON.stringify({ convergence: results.convergence }));

  // --- throughput, quiet and during a write storm
  const ok = await check(b, grpcFrame(requestTo('backend')));
  if (ok.code !== 0) throw new Error(`preflight: backend is not allowed on B (${ok.code})`);
  await h2load(b.port, allowFrame, { seconds: 3, cpu: CORE(1) }); // warm-up

  async function throughputRound(storm) {
    let stop = false;
    const written = { count: 0, failed: 0 };
    const writers = storm
      ? [a, c].map(async (r, w) => {
          for (let n = 0; !stop; n++) {
            try {
              await put(r, `storm-${(n + w * 5) % 10}`, stormPolicy((n + w * 5) % 10, `${w}-${n}`));
              written.count++;
            } catch (error) {
              written.failed++;
              problems.push(`storm write: ${error.message}`);
            }
          }
        })
      : [];
    const v0 = await storeVersion(b);
    const c0 = cpuSeconds(b.pid);
    const run = await h2load(b.port, allowFrame, { seconds: D, cpu: CORE(1) });
    const cpu = cpuSeconds(b.pid) - c0;
    stop = true;
    await Promise.all(writers);
    const v = verify(run, ok.bytes);
    if (v.errors || v.non_ok) problems.push(`throughput ${storm ? 'storm' : 'quiet'}: ${JSON.stringify(v)}`);
    return {
      storm,
      rps: Math.round(run.rps),
      ...v,
      b_cpu_share: round(cpu / D, 2),
      us_per_call: round((cpu / run.done) * 1e6, 1),
      writes_per_s: round(written.count / D, 1),
      versions_b_moved: (await storeVersion(b)) - v0,
      loadavg_1m: load()[0],
    };
  }
  const rounds = [];
  for (let p = 0; p < PAIRS; p++) {
    const order = p % 2 === 0 ? [false, true] : [true, false];
    for (const storm of order) rounds.push(await throughputRound(storm));
  }
  const quiet = rounds.filter((r) => !r.storm);
  const storm = rounds.filter((r) => r.storm);
  results.throughput = {
    rounds,
    quiet_rps: median(quiet.map((r) => r.rps)),
    storm_rps: median(storm.map((r) => r.rps)),
    ratio: round(median(storm.map((r) => r.rps)) / median(quiet.map((r) => r.rps)), 3),
    quiet_us_per_call: median(quiet.map((r) => r.us_per_call)),
    storm_us_per_call: median(storm.map((r) => r.us_per_call)),
    storm_writes_per_s: median(storm.map((r) => r.writes_per_s)),
  };
  console.log(JSON.stringify({ throughput: results.throughput }));
} catch (error) {
  problems.push(String(error?.stack ?? error));
}

const rows = [];
if (results.convergence) {
  const { both } = results.convergence;
  rows.push([
    `convergence A → B and C, p50 / p99 / max (${WRITES} writes)`,
    `${both.p50_ms} / ${both.p99_ms} / ${both.max_ms} ms`,
    `p99 < ${CONVERGENCE_TARGET_MS} ms`,
    both.p99_ms < CONVERGENCE_TARGET_MS,
  ]);
}
if (results.throughput) {
  const t = results.throughput;
  rows.push([
    `cache-hit Checks on B during writes / without (${PAIRS} + ${PAIRS} rounds × ${D} s)`,
    `${t.storm_rps} / ${t.quiet_rps} calls/s = ${t.ratio} (${t.storm_writes_per_s} writes/s)`,
    `≥ ${THROUGHPUT_TARGET}`,
    t.ratio >= THROUGHPUT_TARGET,
  ]);
}
console.log('\n| check | measured | target | met |\n| --- | --- | --- | --- |');
for (const [name, value, target, met] of rows)
  console.log(`| ${name} | ${value} | ${target} | ${met ? 'yes' : 'NO'} |`);
console.log(`load average at the end: ${load().join(' ')}`);
for (const p of problems) console.log(`PROBLEM: ${p}`);
const met = rows.length === 2 && rows.every((r) => r[3]) && problems.length === 0;
console.log(
  problems.length > 0 ? 'store: FAILED CHECKS' : met ? 'store: targets met' : 'store: TARGET MISSED',
);
process.exitCode = met ? 0 : 1;
cleanup();
await db?.destroy();
process.exit();
