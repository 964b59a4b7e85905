/**
 * `mtp-authz serve` as a process: the built CLI on ephemeral ports, policy files on disk, env
 * forms, start-up failures and the SIGTERM drain.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connect,
  decodeCheckResponse,
  decodeHealthResponse,
  encodeCheckRequest,
  grpcError,
} from '../authz/wire.js';
import { makeWorkloadCert } from '../support/certs.js';
import { mtp, service } from '../support/policies.js';
import { policiesYaml } from '../support/policy-yaml.js';
import { ensureBuilt, type ServeProcess, spawnServe, startServe } from '../support/server.js';
import { grpcRequestHeaders } from '../../kit/wire.mjs';

const POLICIES = policiesYaml(
  mtp('allow-web', service('backend'), [[service('web'), 'Allow']]),
  mtp('try-ops', service('backend'), [[service('ops'), 'AllowWithShadowDeny']]),
);

const INVALID = `type: MeshTrafficPermission
name: broken
mesh: default
spec:
  from:
    - targetRef:
        kind: Mesh
      default:
        action: Maybe
    - targetRef:
        kind: Galaxy
      default:
        action: Allow
`;

let dir: string;
let policies: string;
let invalid: string;
const running: ServeProcess[] = [];

beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'mtp-authz-serve-'));
  policies = join(dir, 'policies');
  invalid = join(dir, 'invalid.yaml');
  mkdirSync(policies);
  writeFileSync(join(policies, 'backend.yaml'), POLICIES);
  writeFileSync(invalid, INVALID);
}, 120_000);

afterAll(async () => {
  for (const p of running) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function serve(args: string[], env: NodeJS.ProcessEnv = {}) {
  const server = await startServe(args, env);
  running.push(server);
  return server;
}

const request = (service: string) => ({
  source: { certificate: makeWorkloadCert({ uris: [`spiffe://default/${service}`] }).urlEncoded },
  destination: { principal: 'spiffe://default/backend' },
  http: { method: 'GET', path: '/' },
});

describe('serve', () => {
  it('loads policy files and answers over gRPC and HTTP', async () => {
    const server = await serve(['--policies', policies]);
    const client = connect(server.grpcTarget);
    try {
      expect((await client.check(request('web'))).metadata).toEqual({
        enforced_engine_result: 'allowed',
        enforced_effective_policy_id: 'allow-web',
      });
      expect((await client.check(request('ops'))).metadata.shadow_engine_result).toBe('denied');
      expect((await client.check(request('evil'))).code).toBe(7);
      expect(await client.health('')).toBe('SERVING');
      expect((await fetch(`http://127.0.0.1:${server.httpPort}/readyz`)).status).toBe(200);
    } finally {
      client.close();
      server.kill();
    }
    expect(await server.exited).toBe(0);
  });

  it('reads its flags from the environment', async () => {
    const server = spawnServe([], {
      MTP_AUTHZ_POLICIES: policies,
      MTP_AUTHZ_GRPC_ADDRESS: '127.0.0.1:0',
      MTP_AUTHZ_HTTP_ADDRESS: '127.0.0.1:0',
      MTP_AUTHZ_MAX_REQUEST_BYTES: '1KiB',
    });
    running.push(server);
    const listening = await server.waitForLog((l) => l.msg === 'listening' && l.listener === 'grpc');
    const client = connect(listening.address as string);
    try {
      expect((await client.check(request('web'))).code).toBe(0);
      const big = { ...request('web'), http: { method: 'GET', headers: { pad: 'x'.repeat(2048) } } };
      expect((await grpcError(client.check(big))).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect((await client.check(request('web'))).code).toBe(0);
    } finally {
      client.close();
      server.kill();
    }
    expect(await server.exited).toBe(0);
  });

  it('prints every policy violation and exits 1 when the policies are invalid', async () => {
    const server = spawnServe([
      '--policies',
      invalid,
      '--grpc-address',
      '127.0.0.1:0',
      '--http-address',
      '127.0.0.1:0',
    ]);
    expect(await server.exited).toBe(1);
    const violations = server.stderr.filter((line) => line.startsWith(invalid));
    expect(violations).toEqual([
      `${invalid}:9:17: spec.from[0].default.action: in body should be one of [Allow Deny AllowWithShadowDeny]`,
      `${invalid}:11:15: spec.from[1].targetRef.kind: in body should be one of [Mesh MeshSubset MeshGateway MeshService MeshServiceSubset MeshHTTPRoute]`,
    ]);
  });

  it.each([
    [['--policies', 'x', '--bogus'], 'mtp-authz serve: unknown flag --bogus'],
    [[], 'mtp-authz serve: no policies: give --policies PATH (or --admin-state-dir DIR)'],
    [
      ['--policies', 'x', '--shutdown-grace', '10'],
      'mtp-authz serve: --shutdown-grace: invalid duration "10" (use e.g. 500ms, 30s, 15m, 24h)',
    ],
  ])('exits 2 on bad usage %j with one line', async (args, line) => {
    const server = spawnServe(args);
    expect(await server.exited).toBe(2);
    expect(server.stderr.filter((l) => l !== '')).toEqual([line]);
  });

  it('exits 1 when the gRPC port is taken', async () => {
    const first = await serve(['--policies', policies]);
    const second = spawnServe([
      '--policies',
      policies,
      '--grpc-address',
      first.grpcTarget,
      '--http-address',
      '127.0.0.1:0',
    ]);
    expect(await second.exited).toBe(1);
    expect(second.logs.some((l) => l.msg.startsWith('cannot start the gRPC listener'))).toBe(true);
    first.kill();
    expect(await first.exited).toBe(0);
  });
});

describe('SIGTERM', () => {
  it('turns health NOT_SERVING, finishes the call in flight and exits 0', async () => {
    const server = await serve(['--policies', policies, '--shutdown-grace', '10s']);
    const watcher = connect(server.grpcTarget);
    const watch = watcher.watch('');
    const statuses: string[] = [];
    watch.on('data', (bytes: Buffer) => statuses.push(decodeHealthResponse(bytes)));
    watch.on('error', () => {});
    await until(() => statuses.length === 1);

    // A call in flight: headers and half of the message sent before the signal.
    const message = encodeCheckRequest(request('web'));
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), message]);
    frame.writeUInt32BE(message.length, 1);
    const session = http2.connect(`http://${server.grpcTarget}`);
    const stream = session.request(grpcRequestHeaders());
    let data = Buffer.alloc(0);
    let grpcStatus: string | undefined;
    stream.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
    });
    stream.on('trailers', (t) => {
      grpcStatus = String(t['grpc-status']);
    });
    const closed = new Promise((resolve) => stream.on('close', resolve));
    stream.write(frame.subarray(0, 20));
    await new Promise((resolve) => setTimeout(resolve, 100));

    server.kill('SIGTERM');
    await server.waitForLog((l) => l.msg === 'draining');
    await until(() => statuses.includes('NOT_SERVING'));
    const ready = await fetch(`http://127.0.0.1:${server.httpPort}/readyz`);
    expect(ready.status).toBe(503);
    // No new connections are accepted while the call in flight finishes.
    const late = connect(server.grpcTarget);
    expect((await grpcError(late.check(request('web')))).code).toBe(grpc.status.UNAVAILABLE);
    late.close();

    stream.end(frame.subarray(20));
    await closed;
    session.close();
    watcher.close();
    expect(grpcStatus).toBe('0');
    expect(decodeCheckResponse(data.subarray(5)).metadata.enforced_effective_policy_id).toBe('allow-web');
    expect(statuses).toEqual(['SERVING', 'NOT_SERVING']);
    expect(await server.exited).toBe(0);
  });

  it('cuts a call that outlives --shutdown-grace and still exits 0', async () => {
    const server = await serve(['--policies', policies, '--shutdown-grace', '1s']);
    const session = http2.connect(`http://${server.grpcTarget}`);
    session.on('error', () => {});
    const stream = session.request(grpcRequestHeaders());
    stream.on('error', () => {});
    stream.write(Buffer.from([0, 0, 0, 0, 50]));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    server.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(server.logs.some((l) => l.msg.startsWith('shutdown grace elapsed'))).toBe(true);
    session.destroy();
  });
});

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
