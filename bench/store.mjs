// Three `serve --store` replicas on one throw-away PostgreSQL cluster (the tests' harness), and a fourth:
//
//   convergence  --writes PUTs on A, one after another, each flipping the `probe` policy between
//                Allow and Deny; after each, B and C are asked a Check of the probe destination every
//                millisecond until they answer with the new decision: the time from A's answer
//                until B (and C) serve the write, p50/p99/max
//   throughput   h2load cache-hit Checks on B and, at the same time, on Q: a replica of the same
//                policy set on a second database of the cluster that takes no writes. B and Q share
//                core 0, one h2load each on core 1 (SPEC §9's "both at the same time"). Rounds
//                without writes (the pair's own balance) and rounds during a write storm on A and C
//                (two writers back to back, or --storm-rate writes/s); the figure is B / Q during
//                the storm, with B's CPU per call and the reloads it made
//
// Usage: node bench/store.mjs [--quick] [--writes 200] [--storm-rate N] [--cli dist/cli.js]
// (needs `npm run build`, h2load, and PostgreSQL's server binaries: the Debian package postgresql)
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { LOOPBACK_PORTS } from '../kit/serve.mjs';
import { cleanupOnExit } from './lib/cleanup.mjs';
import { cpuSeconds, h2load, verify } from './lib/h2load.mjs';
import { ANY_CLIENT, mtpYaml, writeBenchPolicies, ZONE_1 } from './lib/policies.mjs';
import { startTestDatabase } from './lib/test-database.mjs';
import { checkRequest, envoyUrlEncode, grpcFrame, pemOf, workloadCertificate } from './lib/wire.mjs';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    writes: { type: 'string' },
    'storm-rate': { type: 'string', default: '0' },
    cli: { type: 'string', default: 'dist/cli.js' },
  },
});
const ROOT = join(import.meta.dirname, '..');
const quick = values.quick;
const WRITES = Number(values.writes ?? (quick ? 50 : 200));
const D = quick ? 3 : 8; // seconds per throughput round
const PAIRS = quick ? 1 : 3; // each pair is one quiet and one storm round
const STORM_RATE = Number(values['storm-rate']); // writes/s over both writers; 0: back to back
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
try {
  db = await startTestDatabase();
} catch (error) {
  console.log(`store: SKIPPED: ${error.message}`);
  process.exit(0);
}
const url = db.url;
const quietUrl = await db.createDatabase('mtp_authz_quiet');
await pinDatabase(url, 1);

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
const probePolicy = (action) => mtpYaml('probe', 'probe', [[ZONE_1, action]]);
/** What the storm writes: one of ten unrelated policies, pointed at another service each time. */
const stormPolicy = (k, n) => mtpYaml(`storm-${k}`, `storm-target-${n}`, [[ANY_CLIENT, 'Allow']]);

// ---------------------------------------------------------------------------------------------
// Replicas

const children = [];
function startReplica(name, core, storeUrl = url) {
  const argv = [
    ...CORE(core),
    process.execPath,
    values.cli,
    'serve',
    '--store',
    storeUrl,
    '--policies',
    policies,
    ...LOOPBACK_PORTS,
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

async function served(replica) {
  return await (await fetch(`http://127.0.0.1:${replica.httpPort}/policies`)).json();
}
const storeVersion = async (replica) => (await served(replica)).storeVersion;

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
const cleanup = cleanupOnExit(children, dir);

try {
  // B (and later Q) on core 0; everything else on core 1.
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

  // --- throughput: B and its quiet twin Q at the same time, without and during a write storm
  const q = await startReplica('Q', 0, quietUrl);
  // Q holds what B holds, so that both serve the same policy set.
  await put(q, 'probe', probePolicy(WRITES % 2 === 0 ? 'Allow' : 'Deny'));
  for (let k = 0; k < 10; k++) {
    await put(a, `storm-${k}`, stormPolicy(k, 'initial'));
    await put(q, `storm-${k}`, stormPolicy(k, 'initial'));
  }
  const latest = await storeVersion(a);
  while ((await storeVersion(b)) < latest) await sleep(5);
  const sizes = [(await served(b)).policies.length, (await served(q)).policies.length];
  if (sizes[0] !== sizes[1]) problems.push(`B serves ${sizes[0]} resources and Q ${sizes[1]}`);
  const answers = await Promise.all([b, q].map((r) => check(r, grpcFrame(requestTo('backend')))));
  if (answers.some((x) => x.code !== 0)) throw new Error('preflight: backend is not allowed on B and Q');
  const okBytes = answers[0].bytes;
  await Promise.all([b, q].map((r) => h2load(r.port, allowFrame, { seconds: 3, cpu: CORE(1) }))); // warm-up

  async function throughputRound(storm) {
    let stop = false;
    const written = { count: 0 };
    const gap = STORM_RATE > 0 ? 2000 / STORM_RATE : 0; // per writer
    const writers = storm
      ? [a, c].map(async (r, w) => {
          for (let n = 0; !stop; n++) {
            const started = performance.now();
            const k = (n + w * 5) % 10;
            try {
              await put(r, `storm-${k}`, stormPolicy(k, `${w}-${n}`));
              written.count++;
            } catch (error) {
              problems.push(`storm write: ${error.message}`);
            }
            if (gap > 0) await sleep(Math.max(0, gap - (performance.now() - started)));
          }
        })
      : [];
    const [b0, q0] = [await served(b), await served(q)];
    const cpu0 = [cpuSeconds(b.pid), cpuSeconds(q.pid)];
    const [rb, rq] = await Promise.all(
      [b, q].map((r) => h2load(r.port, allowFrame, { seconds: D, cpu: CORE(1) })),
    );
    const cpu = [cpuSeconds(b.pid) - cpu0[0], cpuSeconds(q.pid) - cpu0[1]];
    stop = true;
    await Promise.all(writers);
    const [b1, q1] = [await served(b), await served(q)];
    const vb = verify(rb, okBytes);
    const vq = verify(rq, okBytes);
    if (vb.errors || vb.non_ok || vq.errors || vq.non_ok)
      problems.push(
        `throughput ${storm ? 'storm' : 'quiet'}: B ${JSON.stringify(vb)}, Q ${JSON.stringify(vq)}`,
      );
    return {
      storm,
      b_rps: Math.round(rb.rps),
      q_rps: Math.round(rq.rps),
      ratio: round(rb.rps / rq.rps, 3),
      errors: vb.errors + vq.errors,
      non_ok: vb.non_ok + vq.non_ok,
      b_us_per_call: round((cpu[0] / rb.done) * 1e6, 1),
      q_us_per_call: round((cpu[1] / rq.done) * 1e6, 1),
      b_cpu_share: round(cpu[0] / D, 2),
      // B's CPU beyond what its calls cost Q per call: the store's work on B (notifications, reads, reloads).
      b_store_cores: round((cpu[0] - rb.done * (cpu[1] / rq.done)) / D, 3),
      q_cpu_share: round(cpu[1] / D, 2),
      writes_per_s: round(written.count / D, 1),
      b_versions_moved: b1.storeVersion - b0.storeVersion,
      b_reloads: b1.generation - b0.generation,
      q_reloads: q1.generation - q0.generation,
      loadavg_1m: load()[0],
    };
  }
  const rounds = [];
  for (let p = 0; p < PAIRS; p++) {
    const order = p % 2 === 0 ? [false, true] : [true, false];
    for (const storm of order) {
      const r = await throughputRound(storm);
      console.log(JSON.stringify({ round: r }));
      rounds.push(r);
    }
  }
  const quiet = rounds.filter((r) => !r.storm);
  const storm = rounds.filter((r) => r.storm);
  results.throughput = {
    storm_rate: STORM_RATE > 0 ? STORM_RATE : 'back to back',
    quiet_ratio: median(quiet.map((r) => r.ratio)),
    storm_ratio: median(storm.map((r) => r.ratio)),
    storm_ratios: storm.map((r) => r.ratio),
    quiet_ratios: quiet.map((r) => r.ratio),
    storm_b_rps: median(storm.map((r) => r.b_rps)),
    storm_q_rps: median(storm.map((r) => r.q_rps)),
    b_us_per_call: {
      quiet: median(quiet.map((r) => r.b_us_per_call)),
      storm: median(storm.map((r) => r.b_us_per_call)),
    },
    storm_writes_per_s: median(storm.map((r) => r.writes_per_s)),
    storm_b_reloads_per_s: round(median(storm.map((r) => r.b_reloads)) / D, 1),
    storm_b_store_cores: median(storm.map((r) => r.b_store_cores)),
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
    `cache-hit Checks on B during writes / on Q without, same time (${PAIRS} storm rounds × ${D} s)`,
    `${t.storm_b_rps} / ${t.storm_q_rps} calls/s: ${t.storm_ratio} (${t.storm_writes_per_s} writes/s, B reloaded ${t.storm_b_reloads_per_s}/s, store work on B ${t.storm_b_store_cores} cores; without writes B / Q = ${t.quiet_ratio})`,
    `≥ ${THROUGHPUT_TARGET}`,
    t.storm_ratio >= THROUGHPUT_TARGET,
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
