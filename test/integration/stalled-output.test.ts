/**
 * Logging never blocks the event loop: with stderr and stdout pipes that nobody reads (already
 * full when the server starts), a flood of bad-token admin writes — each one an operational line
 * and an audit line — leaves Checks and /healthz answering, and the drops are counted.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../authz/wire.js';
import { makeWorkloadCert } from '../support/certs.js';
import { parseMetrics, sampleValue } from '../support/prom-parse.js';
import { ALLOW_ALL_YAML } from '../support/policy-yaml.js';
import { ensureBuilt, REPO } from '../support/server.js';

const ALLOW_ALL = ALLOW_ALL_YAML;
const REQUEST = {
  source: { certificate: makeWorkloadCert({ uris: ['spiffe://default/web'] }).urlEncoded },
  destination: { principal: 'spiffe://default/backend' },
};

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A FIFO whose write end is returned already full: the first write of a reader-less child blocks. */
function fullPipe(dir: string, name: string): { write: number; close(): void } {
  const path = join(dir, name);
  spawnSync('mkfifo', [path]);
  const read = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const fill = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  const chunk = Buffer.alloc(4096, 'x');
  for (;;) {
    try {
      writeSync(fill, chunk);
    } catch {
      break; // EAGAIN: full
    }
  }
  closeSync(fill);
  const write = openSync(path, constants.O_WRONLY);
  return {
    write,
    close() {
      closeSync(write);
      closeSync(read);
    },
  };
}

let cleanup: (() => void)[] = [];
beforeAll(() => ensureBuilt());
afterEach(() => {
  for (const done of cleanup) done();
  cleanup = [];
});

describe('a stalled stderr and stdout', () => {
  it('Checks and /healthz keep answering while 1 000 bad-token admin writes are logged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtp-stalled-'));
    writeFileSync(join(dir, 'policy.yaml'), ALLOW_ALL);
    writeFileSync(join(dir, 'key'), 'k'.repeat(40));
    const [grpcPort, httpPort] = [await freePort(), await freePort()];
    const stderr = fullPipe(dir, 'stderr');
    const stdout = fullPipe(dir, 'stdout');
    const child = spawn(
      process.execPath,
      [
        join(REPO, 'dist/cli.js'),
        'serve',
        '--policies',
        join(dir, 'policy.yaml'),
        '--admin-state-dir',
        join(dir, 'state'),
        '--token-signing-key',
        join(dir, 'key'),
        '--grpc-address',
        `127.0.0.1:${grpcPort}`,
        '--http-address',
        `127.0.0.1:${httpPort}`,
      ],
      { stdio: ['ignore', stdout.write, stderr.write] },
    );
    const client = connect(`127.0.0.1:${grpcPort}`);
    cleanup.push(() => {
      client.close();
      child.kill('SIGKILL');
      stderr.close();
      stdout.close();
    });
    const base = `http://127.0.0.1:${httpPort}`;
    for (let i = 0; ; i++) {
      const up = await fetch(`${base}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (up) break;
      if (i > 600)
        throw new Error(`the server did not start (${child.exitCode ?? child.signalCode ?? 'running'})`);
      await new Promise((r) => setTimeout(r, 50));
    }

    let flooding = true;
    const alive = { checks: 0, healthz: 0, failed: 0 };
    const probes = (async () => {
      while (flooding) {
        try {
          const answer = await client.check(REQUEST);
          if (answer.code === 0) alive.checks++;
          const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(5000) });
          if (res.status === 200) alive.healthz++;
        } catch {
          alive.failed++;
        }
      }
    })();
    const statuses: number[] = [];
    for (let batch = 0; batch < 20; batch++) {
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          fetch(`${base}/meshes/default/meshtrafficpermissions/p-${batch}-${i}`, {
            method: 'PUT',
            headers: { authorization: 'Bearer not-a-token', 'content-type': 'application/yaml' },
            body: ALLOW_ALL,
            signal: AbortSignal.timeout(10_000),
          }).then((r) => r.status),
        ),
      );
      statuses.push(...answers);
    }
    flooding = false;
    await probes;

    expect(statuses).toEqual(Array(1000).fill(401));
    expect(alive.failed).toBe(0);
    expect(alive.checks).toBeGreaterThan(0);
    expect(alive.healthz).toBeGreaterThan(0);
    expect((await client.check(REQUEST)).code).toBe(0);
    const metrics = parseMetrics(await (await fetch(`${base}/metrics`)).text());
    const dropped = (log: string, reason: string) =>
      sampleValue(metrics, 'mtp_authz_log_lines_dropped_total', { log, reason }) ?? 0;
    // 1 000 lines of one kind: all but a burst and the rate are refused before they reach stderr.
    expect(dropped('operational', 'rate_limit')).toBeGreaterThan(500);
  });
});
