/**
 * A slowloris on the HTTP port must not starve the gRPC port. The server runs under an
 * open-file limit of 1024 (as many hosts default to), far below the 4 000 half-open HTTP
 * connections the attacker holds and keeps reopening: without a cap they would take every
 * descriptor and no new Envoy connection could be accepted. While they are held, 10 new gRPC
 * connections each get a correct answer within 1 s.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { softOpenFileLimit } from '../../src/http/open-files.js';
import { connect } from '../authz/wire.js';
import { makeWorkloadCert } from '../support/certs.js';
import { ALLOW_ALL_YAML } from '../support/policy-yaml.js';
import { lowestPriority, raisePriority, restorePriority } from '../support/priority.js';
import { ensureBuilt, killServe, type StartedServe, startServe } from '../support/server.js';

const SERVER_OPEN_FILES = 1024;
/** What the attacking process keeps for itself. */
const OWN_RESERVE = 512;
/**
 * 4 000 attacking sockets, or as many as the soft open-file limit allows the attacking process
 * (it inherits this one's). Either way they are several times the server's 1 024 descriptors,
 * which is what the test is about.
 */
const SLOWLORIS = Math.min(4000, (softOpenFileLimit() ?? 4096 + OWN_RESERVE) - OWN_RESERVE);

const WEB = makeWorkloadCert({ uris: ['spiffe://default/web'] }).urlEncoded;
const REQUEST = { source: { certificate: WEB }, destination: { principal: 'spiffe://default/backend' } };

/**
 * Another process holding `count` connections to `port`, each trickling an unfinished request,
 * and reopening each one the server closes (spread out, so that it is not a tight connect loop).
 * It reports how many connections it opened and holds.
 */
function slowloris(port: number, count: number) {
  const dir = mkdtempSync(join(tmpdir(), 'mtp-slowloris-client-'));
  const file = join(dir, 'slowloris.cjs');
  writeFileSync(
    file,
    `
    const { connect } = require('node:net');
    const sockets = new Set();
    let opened = 0;
    let stopped = false;
    const open = () => {
      if (stopped) return;
      const socket = connect(${port}, '127.0.0.1');
      sockets.add(socket);
      opened++;
      socket.setNoDelay(true);
      socket.on('error', () => {});
      socket.on('connect', () => socket.write('GET /healthz HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n'));
      socket.on('close', () => {
        sockets.delete(socket);
        setTimeout(open, 500 + Math.random() * 1000);
      });
    };
    setInterval(() => { for (const s of sockets) if (s.writable) s.write('X'); }, 2000);
    for (let i = 0; i < ${count}; i++) open();
    process.on('message', (m) => {
      if (m === 'stop') { stopped = true; for (const s of sockets) s.destroy(); process.exit(0); }
      else process.send({ opened, held: sockets.size });
    });
  `,
  );
  const child = fork(file, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  lowestPriority(child.pid);
  return {
    stats(): Promise<{ opened: number; held: number }> {
      return new Promise((resolve) => {
        child.once('message', (m) => resolve(m as { opened: number; held: number }));
        child.send('stats');
      });
    },
    stop(): Promise<void> {
      return new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.send('stop');
      });
    },
  };
}

let server: StartedServe | undefined;

beforeAll(async () => {
  ensureBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'mtp-slowloris-'));
  writeFileSync(join(dir, 'policy.yaml'), ALLOW_ALL_YAML);
  server = await startServe(['--policies', dir], {}, { openFileLimit: SERVER_OPEN_FILES });
  // What is measured is this server against the attack, not the machine's load (see priority.ts).
  raisePriority(server.child.pid);
  raisePriority(process.pid);
});

afterAll(async () => {
  await killServe(server);
  restorePriority(process.pid);
});

describe('slowloris on the HTTP port', () => {
  it('keeps the HTTP cap at half the open-file limit', () => {
    const http = server?.logs.find((l) => l.msg === 'listening' && l.listener === 'http');
    expect(http?.maxConnections).toBe(SERVER_OPEN_FILES / 2);
  });

  it(`while ${SLOWLORIS} half-open connections are held, 10 new gRPC connections each get a correct answer within 1 s`, async () => {
    const s = server as StartedServe;
    const attack = slowloris(s.httpPort, SLOWLORIS);
    try {
      // Let the flood build up: every socket connected once, the ones over the cap closed.
      await new Promise((resolve) => setTimeout(resolve, 3000));
      expect((await attack.stats()).opened).toBeGreaterThanOrEqual(SLOWLORIS);

      const elapsed: number[] = [];
      for (let i = 0; i < 10; i++) {
        // Its own subchannel: a new TCP connection, not one shared with an earlier client.
        const client = connect(s.grpcTarget, grpc.credentials.createInsecure(), {
          'grpc.use_local_subchannel_pool': 1,
        });
        const started = performance.now();
        try {
          const answer = await client.check(REQUEST);
          elapsed.push(performance.now() - started);
          expect(answer.code).toBe(0);
          expect(answer.metadata.enforced_effective_policy_id).toBe('allow-all');
        } finally {
          client.close();
        }
      }
      expect(elapsed.filter((ms) => ms >= 1000)).toEqual([]);
      expect(s.logs.some((l) => l.msg === 'HTTP connection limit reached; closing new connections')).toBe(
        true,
      );
    } finally {
      await attack.stop();
    }
    // Once the flood is over, the HTTP port answers again.
    const healthz = await fetch(`http://127.0.0.1:${s.httpPort}/healthz`);
    expect(healthz.status).toBe(200);
  }, 60_000);
});
