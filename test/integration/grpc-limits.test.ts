/**
 * HTTP/2 limits of the gRPC port: every connection advertises SETTINGS_MAX_CONCURRENT_STREAMS and
 * a call over it waits for a free stream instead of costing memory, and health Watches are capped
 * (one over the cap is refused with RESOURCE_EXHAUSTED).
 */
import { connect as connectH2, constants, type ClientHttp2Session } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { connect, decodeHealthResponse, encodeCheckRequest, type TestClient } from '../authz/wire.js';
import { makeWorkloadCert } from '../support/certs.js';
import { mtp, policySet, service } from '../support/policies.js';
import { type InProcessServer, startInProcess } from '../support/server.js';
import { grpcRequestHeaders } from '../../kit/wire.mjs';

const SET = policySet([mtp('allow-web', service('backend'), [[service('web'), 'Allow']])]);
const REQUEST = encodeCheckRequest({
  source: { certificate: makeWorkloadCert({ uris: ['spiffe://default/web'] }).urlEncoded },
  destination: { principal: 'spiffe://default/backend' },
});

const started: InProcessServer[] = [];
async function start(options: Parameters<typeof startInProcess>[1]): Promise<InProcessServer> {
  const server = await startInProcess(SET, options);
  started.push(server);
  return server;
}
afterAll(async () => {
  await Promise.all(started.map((s) => s.stop(100)));
});

async function session(port: number): Promise<ClientHttp2Session> {
  const h2 = connectH2(`http://127.0.0.1:${port}`);
  h2.on('error', () => {});
  await new Promise<void>((resolve) => h2.once('remoteSettings', () => resolve()));
  return h2;
}

/** A Check stream whose request is sent but not ended: the server holds it open. */
function openCheck(h2: ClientHttp2Session) {
  const stream = h2.request(grpcRequestHeaders());
  stream.on('error', () => {});
  const frame = Buffer.alloc(5 + REQUEST.length);
  frame.writeUInt32BE(REQUEST.length, 1);
  REQUEST.copy(frame, 5);
  const answered = new Promise<string | undefined>((resolve) => {
    stream.on('trailers', (trailers) => resolve(String(trailers['grpc-status'])));
    stream.on('close', () => resolve(undefined));
  });
  stream.resume();
  return { stream, frame, answered };
}

describe('--grpc-max-concurrent-streams', () => {
  it('is advertised on every connection (default 256)', async () => {
    const server = await start({});
    const h2 = await session(server.port as number);
    expect(h2.remoteSettings.maxConcurrentStreams).toBe(256);
    h2.close();
  });

  it('holds a call over the limit until a stream of that connection is free', async () => {
    const server = await start({ maxConcurrentStreams: 2 });
    const h2 = await session(server.port as number);
    expect(h2.remoteSettings.maxConcurrentStreams).toBe(2);
    const calls = [openCheck(h2), openCheck(h2), openCheck(h2)];
    for (const call of calls) call.stream.write(call.frame);
    // The third is not even sent while the first two are open.
    const third = calls[2] as ReturnType<typeof openCheck>;
    const early = await Promise.race([
      third.answered,
      new Promise((resolve) => setTimeout(() => resolve('waiting'), 300)),
    ]);
    expect(early).toBe('waiting');
    calls[0]?.stream.end();
    expect(await calls[0]?.answered).toBe('0');
    third.stream.end();
    expect(await third.answered).toBe('0');
    calls[1]?.stream.close(constants.NGHTTP2_CANCEL);
    h2.close();
  });
});

describe('--max-health-watches', () => {
  it('refuses a Watch over the cap with RESOURCE_EXHAUSTED, and takes one again once a watch ends', async () => {
    const server = await start({ maxHealthWatches: 2 });
    const clients: TestClient[] = [];
    const watch = (): grpc.ClientReadableStream<Buffer> => {
      const client = connect(server.target);
      clients.push(client);
      return client.watch('');
    };
    const first = (stream: grpc.ClientReadableStream<Buffer>): Promise<string> =>
      new Promise((resolve, reject) => {
        stream.once('data', (bytes: Buffer) => resolve(decodeHealthResponse(bytes)));
        stream.once('error', reject);
      });
    try {
      const held = [watch(), watch()];
      expect(await Promise.all(held.map(first))).toEqual(['SERVING', 'SERVING']);

      const refused = watch();
      refused.on('data', () => {});
      const error = await new Promise<grpc.ServiceError>((resolve) => refused.on('error', resolve));
      expect(error.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(error.details).toBe('too many health watches (at most 2; see --max-health-watches)');
      // Check is not a Watch: it still answers.
      expect(await clients[0]?.health('')).toBe('SERVING');

      held[0]?.on('error', () => {});
      held[0]?.cancel();
      // The server learns of the cancel asynchronously; a new Watch is taken once it has.
      let again: string | undefined;
      for (let attempt = 0; attempt < 50 && again === undefined; attempt++) {
        const stream = watch();
        again = await first(stream).catch(() => undefined);
        if (again === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
        else stream.cancel();
        stream.on('error', () => {});
      }
      expect(again).toBe('SERVING');
    } finally {
      for (const client of clients) client.close();
    }
  });
});
