#!/usr/bin/env node
/**
 * Admin write latency against a state directory already holding N MeshTrafficPermissions:
 * `node bench/admin-writes.mjs [--resources 1000,10000] [--writes 20] [--concurrent 20]`
 * (after `npm run build`). For each N: the server starts on the pre-filled directory, then
 * `--writes` PUTs run one after another (latency of a write on its own), then `--concurrent`
 * PUTs are sent at once (how long the last of them waits). Every PUT must answer 201.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startServe } from '../kit/serve.mjs';

const { values } = parseArgs({
  options: {
    resources: { type: 'string', default: '1000,10000' },
    writes: { type: 'string', default: '20' },
    concurrent: { type: 'string', default: '20' },
  },
});

function policy(name, service) {
  return `type: MeshTrafficPermission
name: ${name}
mesh: default
spec:
  targetRef: {kind: MeshService, name: ${service}}
  from:
    - targetRef: {kind: MeshService, name: client-${service}}
      default: {action: Allow}
`;
}

function put(port, name) {
  const body = policy(name, `svc-${name}`);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'PUT',
        path: `/meshes/default/meshtrafficpermissions/${name}`,
        headers: { 'content-type': 'application/yaml', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode !== 201) reject(new Error(`PUT ${name}: ${res.statusCode}`));
          else resolve(performance.now() - started);
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function startServer(stateDir, policiesDir) {
  const server = await startServe(['--policies', policiesDir, '--admin-state-dir', stateDir], {
    stdout: 'discard',
  });
  return { child: server.child, port: server.httpPort };
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const ms = (x) => `${x.toFixed(0)} ms`;

for (const n of values.resources.split(',').map(Number)) {
  const root = mkdtempSync(join(tmpdir(), 'mtp-bench-admin-'));
  const stateDir = join(root, 'state');
  const policiesDir = join(root, 'policies');
  mkdirSync(join(stateDir, 'meshtrafficpermissions', 'default'), { recursive: true });
  mkdirSync(policiesDir);
  for (let i = 0; i < n; i++) {
    const name = `p-${String(i).padStart(5, '0')}`;
    writeFileSync(
      join(stateDir, 'meshtrafficpermissions', 'default', `${name}.yaml`),
      policy(name, `svc-${i}`),
    );
  }
  const { child, port } = await startServer(stateDir, policiesDir);
  try {
    const alone = [];
    for (let i = 0; i < Number(values.writes); i++) alone.push(await put(port, `seq-${i}`));
    alone.sort((a, b) => a - b);
    const startedAt = performance.now();
    const together = await Promise.all(
      Array.from({ length: Number(values.concurrent) }, (_, i) => put(port, `par-${i}`)),
    );
    const wall = performance.now() - startedAt;
    together.sort((a, b) => a - b);
    console.log(
      `${n} resources: one write at a time p50 ${ms(quantile(alone, 0.5))}, p90 ${ms(quantile(alone, 0.9))}, ` +
        `max ${ms(alone[alone.length - 1])}; ${together.length} at once: all answered in ${ms(wall)} ` +
        `(p50 ${ms(quantile(together, 0.5))}, max ${ms(together[together.length - 1])})`,
    );
  } finally {
    child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
}
