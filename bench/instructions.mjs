// Instructions per cache-hit call, whole server process, counted by valgrind's callgrind: a figure
// that does not move with the load other processes put on the machine (calls/s and CPU µs do).
// Each server runs alone under callgrind (about 50× slower than native; h2load easily keeps it
// busy), is warmed up, then the counters are zeroed, `--calls` calls are made (h2load -c 4 -m 25,
// the cache-hit body of load.mjs) and the counts dumped: every thread of the process (V8's
// collector and compiler threads too), divided by the calls. Rounds are repeated per server.
//
// Usage: node bench/instructions.mjs [--calls 10000] [--warm 20000] [--rounds 3]
//          [--only service,h2-floor,grpc-js-floor,transport] [--cli path/to/cli.js]
// (needs `npm run build`, valgrind and h2load)
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOOPBACK_PORTS } from '../kit/serve.mjs';
import { writeBenchPolicies } from './lib/policies.mjs';
import { checkRequest, envoyUrlEncode, grpcFrame, pemOf, workloadCertificate } from './lib/wire.mjs';

const ROOT = join(import.meta.dirname, '..');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const CALLS = Number(arg('calls', 10_000));
const WARM = Number(arg('warm', 20_000));
const ROUNDS = Number(arg('rounds', 3));
const CLI = arg('cli', 'dist/cli.js');
const only = new Set(arg('only', 'service,transport,h2-floor,grpc-js-floor').split(','));
const PATH = '/envoy.service.auth.v3.Authorization/Check';

for (const tool of ['valgrind', 'h2load', 'callgrind_control']) {
  if (spawnSync(tool, ['--version']).error) {
    console.log(`instructions: SKIPPED: ${tool} is not installed`);
    process.exit(0);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'mtp-bench-instructions-'));
const policies = writeBenchPolicies(dir);
const web = workloadCertificate('web');
const frame = join(dir, 'allow.frame');
writeFileSync(
  frame,
  grpcFrame(
    checkRequest({
      certificate: envoyUrlEncode(pemOf(web.der)),
      sourcePrincipal: `spiffe://default/${web.service}`,
    }),
  ),
);

const servers = {
  service: [CLI, 'serve', '--policies', policies, ...LOOPBACK_PORTS],
  'h2-floor': ['bench/h2-floor-server.mjs'],
  'grpc-js-floor': ['bench/floor-server.mjs'],
  transport: ['bench/transport-floor-server.mjs'],
};
const READY = /"listener":"grpc"[^\n]*"port":(\d+)|READY (\d+)/;

function start(name) {
  const out = join(dir, `callgrind.${name}`);
  const child = spawn(
    'valgrind',
    ['--tool=callgrind', `--callgrind-out-file=${out}`, process.execPath, ...servers[name]],
    { cwd: ROOT, env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk) => {
      text += chunk;
      const m = READY.exec(text);
      if (m === null) return;
      child.stdout.off('data', onData);
      child.stderr.off('data', onData);
      child.stdout.resume();
      child.stderr.resume();
      resolve({ child, port: Number(m[1] ?? m[2]), out });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${name} exited ${code}: ${text}`)));
  });
}

function h2load(port, count) {
  const run = spawnSync(
    'h2load',
    ['-c', '4', '-m', '25', '-t', '1', '-n', String(count), '-d', frame]
      .concat(['-H', 'content-type: application/grpc', '-H', 'te: trailers'])
      .concat([`http://127.0.0.1:${port}${PATH}`]),
    { encoding: 'utf8' },
  );
  const num = (re) => Number(re.exec(run.stdout)?.[1] ?? NaN);
  return { succeeded: num(/(\d+) succeeded/), s2xx: num(/(\d+) 2xx/) };
}

/** Ir of the callgrind dump written last (its `totals:` line). */
function lastTotals(out) {
  const dumps = readdirSync(dir)
    .filter((f) => join(dir, f).startsWith(`${out}.`))
    .sort((a, b) => Number(a.split('.').pop()) - Number(b.split('.').pop()));
  const text = readFileSync(join(dir, dumps.at(-1)), 'utf8');
  return Number(/^totals: (\d+)/m.exec(text)[1]);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const results = {};
let failed = false;
try {
  for (const name of Object.keys(servers)) {
    if (!only.has(name)) continue;
    const server = await start(name);
    const pid = String(server.child.pid);
    h2load(server.port, WARM);
    const perCall = [];
    for (let r = 0; r < ROUNDS; r++) {
      spawnSync('callgrind_control', ['--zero', pid]);
      const run = h2load(server.port, CALLS);
      spawnSync('callgrind_control', ['--dump', pid]);
      if (run.succeeded !== CALLS) {
        failed = true;
        console.log(`PROBLEM: ${name}: ${run.succeeded} of ${CALLS} calls succeeded`);
      }
      perCall.push(Math.round(lastTotals(server.out) / CALLS));
    }
    server.child.kill('SIGTERM');
    await new Promise((r) => server.child.once('exit', r));
    results[name] = { instructions_per_call: median(perCall), rounds: perCall };
    console.log(JSON.stringify({ [name]: results[name] }));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const base = results['h2-floor']?.instructions_per_call;
if (base !== undefined) {
  for (const [name, r] of Object.entries(results))
    console.log(
      `${name}: ${r.instructions_per_call} instructions per call (${(r.instructions_per_call / base).toFixed(2)}× the node:http2 floor)`,
    );
}
process.exitCode = failed ? 1 : 0;
