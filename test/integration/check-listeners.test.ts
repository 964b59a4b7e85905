/**
 * Listeners and health: TLS with client-certificate verification, a Unix socket, grpc.health.v1
 * Check and Watch, and the HTTP /healthz and /readyz.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  type CheckRequestInit,
  connect,
  decodeHealthResponse,
  grpcError,
  type TestClient,
} from '../authz/wire.js';
import { makeCa, makeClientCert, makeServerCert, makeWorkloadCert, writeTempPem } from '../support/certs.js';
import { mtp, policySet, service } from '../support/policies.js';
import { type InProcessServer, startInProcess } from '../support/server.js';

const SET = policySet([mtp('allow-web', service('backend'), [[service('web'), 'Allow']])]);
const good: CheckRequestInit = {
  source: { certificate: makeWorkloadCert({ uris: ['spiffe://default/web'] }).urlEncoded },
  destination: { principal: 'spiffe://default/backend' },
};
const AUTHZ = 'envoy.service.auth.v3.Authorization';

const started: InProcessServer[] = [];
async function start(...args: Parameters<typeof startInProcess>): Promise<InProcessServer> {
  const server = await startInProcess(...args);
  started.push(server);
  return server;
}
const clients: TestClient[] = [];
/** A server over `set` and a client of it (with `credentials`); the client is closed after the test. */
async function startConnected(
  set: Parameters<typeof startInProcess>[0],
  options: Parameters<typeof startInProcess>[1] = {},
  credentials?: grpc.ChannelCredentials,
): Promise<{ server: InProcessServer; client: TestClient }> {
  const server = await start(set, options);
  const client = connect(server.target, credentials);
  clients.push(client);
  return { server, client };
}
afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});
afterAll(async () => {
  await Promise.all(started.map((s) => s.stop(100)));
});

describe('TLS listener with --grpc-tls-client-ca', () => {
  const ca = makeCa('mtp-authz listener CA');
  const otherCa = makeCa('someone else');
  const serverCert = makeServerCert(ca);
  const tls = {
    cert: writeTempPem('server.pem', serverCert.certPem),
    key: writeTempPem('server-key.pem', serverCert.keyPem),
    clientCa: writeTempPem('ca.pem', ca.certPem),
  };
  const trust = Buffer.from(ca.certPem);
  const credentialsWith = (clientCert?: { certPem: string; keyPem: string }) =>
    clientCert === undefined
      ? grpc.credentials.createSsl(trust)
      : grpc.credentials.createSsl(trust, Buffer.from(clientCert.keyPem), Buffer.from(clientCert.certPem));

  it('serves a client holding a certificate from that CA', async () => {
    const { client } = await startConnected(SET, { tls }, credentialsWith(makeClientCert(ca)));
    expect((await client.check(good)).code).toBe(0);
  });

  it('refuses a client without a certificate', async () => {
    const { client } = await startConnected(SET, { tls }, credentialsWith());
    expect((await grpcError(client.check(good))).code).toBe(grpc.status.UNAVAILABLE);
  });

  it('refuses a client whose certificate another CA issued', async () => {
    const { client } = await startConnected(SET, { tls }, credentialsWith(makeClientCert(otherCa)));
    expect((await grpcError(client.check(good))).code).toBe(grpc.status.UNAVAILABLE);
  });

  it('refuses plaintext', async () => {
    const { client } = await startConnected(SET, { tls });
    expect((await grpcError(client.check(good))).code).toBe(grpc.status.UNAVAILABLE);
  });

  it('serves TLS without client verification when no client CA is given', async () => {
    const { client } = await startConnected(
      SET,
      { tls: { cert: tls.cert, key: tls.key } },
      credentialsWith(),
    );
    expect((await client.check(good)).code).toBe(0);
  });
});

describe('Unix socket listener', () => {
  it('serves Check and health on unix:///path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtp-authz-sock-'));
    try {
      const path = join(dir, 'authz.sock');
      const server = await start(SET, { address: { kind: 'unix', path } });
      expect(server.target).toBe(`unix://${path}`);
      expect(server.port).toBeUndefined();
      const client = connect(server.target);
      try {
        expect((await client.check(good)).metadata.enforced_effective_policy_id).toBe('allow-web');
        expect(await client.health(AUTHZ)).toBe('SERVING');
      } finally {
        client.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function nextMessages(stream: grpc.ClientReadableStream<Buffer>, count: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const seen: string[] = [];
    const onData = (bytes: Buffer): void => {
      seen.push(decodeHealthResponse(bytes));
      if (seen.length === count) {
        stream.off('data', onData);
        resolve(seen);
      }
    };
    stream.on('data', onData);
    stream.once('error', reject);
  });
}

describe('grpc.health.v1', () => {
  it('reports SERVING for "" and the Authorization service while loaded', async () => {
    const { client } = await startConnected(SET);
    expect(await client.health('')).toBe('SERVING');
    expect(await client.health(AUTHZ)).toBe('SERVING');
  });

  it('answers NOT_FOUND for an unknown service', async () => {
    const { client } = await startConnected(SET);
    const error = await grpcError(client.health('envoy.service.ratelimit.v3.RateLimitService'));
    expect(error.code).toBe(grpc.status.NOT_FOUND);
    expect(error.details).toBe('unknown service "envoy.service.ratelimit.v3.RateLimitService"');
  });

  it('quotes at most 64 characters of an unknown service name back', async () => {
    const { client } = await startConnected(SET);
    const error = await grpcError(client.health(`${'x'.repeat(64)}${'y'.repeat(2000)}`));
    expect(error.code).toBe(grpc.status.NOT_FOUND);
    expect(error.details).toBe(`unknown service "${'x'.repeat(64)}…"`);
  });

  it('reports NOT_SERVING and refuses Check before a policy set is loaded', async () => {
    const { client } = await startConnected(SET, { unloaded: true });
    expect(await client.health('')).toBe('NOT_SERVING');
    expect((await grpcError(client.check(good))).code).toBe(grpc.status.UNAVAILABLE);
  });

  it('Watch streams every change until draining ends the stream', async () => {
    const { server, client } = await startConnected(SET, { unloaded: true });
    const stream = client.watch(AUTHZ);
    expect(await nextMessages(stream, 1)).toEqual(['NOT_SERVING']);
    const loaded = nextMessages(stream, 1);
    server.swap(SET);
    expect(await loaded).toEqual(['SERVING']);
    const ended = new Promise((resolve) => stream.on('end', resolve));
    const draining = nextMessages(stream, 1);
    const stopped = server.stop(2000);
    expect(await draining).toEqual(['NOT_SERVING']);
    await ended;
    await stopped;
  });

  it('Watch sends nothing new for a swap that keeps the status', async () => {
    const { server, client } = await startConnected(SET);
    const stream = client.watch('');
    expect(await nextMessages(stream, 1)).toEqual(['SERVING']);
    const seen: string[] = [];
    stream.on('data', (bytes: Buffer) => seen.push(decodeHealthResponse(bytes)));
    server.swap(SET);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(seen).toEqual([]);
    stream.cancel();
  });

  it('refuses a malformed HealthCheckRequest with INVALID_ARGUMENT, on Check and Watch', async () => {
    const { client } = await startConnected(SET);
    const raw = client.raw as unknown as {
      HealthCheck: (req: Buffer, md: grpc.Metadata, cb: (error: grpc.ServiceError | null) => void) => void;
      HealthWatch: (req: Buffer, md: grpc.Metadata) => grpc.ClientReadableStream<Buffer>;
    };
    const checkError = await new Promise<grpc.ServiceError | null>((resolve) =>
      raw.HealthCheck(Buffer.from([0x0a, 0x09]), new grpc.Metadata(), resolve),
    );
    expect(checkError?.code).toBe(grpc.status.INVALID_ARGUMENT);
    const stream = raw.HealthWatch(Buffer.from([0x0a, 0x09]), new grpc.Metadata());
    stream.on('data', () => {});
    const watchError = await new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
    expect(watchError.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(await client.health('')).toBe('SERVING');
  });

  it('Watch answers SERVICE_UNKNOWN for an unknown service', async () => {
    const { client } = await startConnected(SET);
    const stream = client.watch('nope');
    expect(await nextMessages(stream, 1)).toEqual(['SERVICE_UNKNOWN']);
    stream.cancel();
  });
});

describe('HTTP /healthz and /readyz', () => {
  const get = async (port: number, path: string, method = 'GET') => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { method });
    return {
      status: response.status,
      type: response.headers.get('content-type'),
      body: await response.json(),
    };
  };

  it('answers 200 on both while loaded', async () => {
    const server = await start(SET);
    expect(await get(server.httpPort, '/healthz')).toEqual({
      status: 200,
      type: 'application/json',
      body: { status: 'ok' },
    });
    expect(await get(server.httpPort, '/readyz')).toEqual({
      status: 200,
      type: 'application/json',
      body: { status: 'ready', generation: 1 },
    });
  });

  it('is alive but not ready before a policy set is loaded', async () => {
    const server = await start(SET, { unloaded: true });
    expect((await get(server.httpPort, '/healthz')).status).toBe(200);
    expect(await get(server.httpPort, '/readyz')).toMatchObject({
      status: 503,
      body: { status: 'no policy set loaded' },
    });
  });

  it('is not ready while draining', async () => {
    const server = await start(SET);
    server.state.drain();
    expect(await get(server.httpPort, '/readyz')).toMatchObject({
      status: 503,
      body: { status: 'draining' },
    });
    expect((await get(server.httpPort, '/healthz')).status).toBe(200);
  });

  it('answers JSON 404 for other paths and 405 for other methods', async () => {
    const server = await start(SET);
    expect(await get(server.httpPort, '/metrics?x=1')).toEqual({
      status: 404,
      type: 'application/json',
      body: { status: 404, title: 'Not Found', detail: 'no route for GET /metrics' },
    });
    expect(await get(server.httpPort, '/healthz', 'POST')).toMatchObject({ status: 405 });
  });
});
