/**
 * Hostile input: whatever arrives, the server answers (a denial or a gRPC error) and the next good
 * request is served. Malformed gRPC framing is sent with a raw HTTP/2 client.
 */
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_URI_SANS } from '../../src/decision/identity.js';
import { type CheckRequestInit, encodeCheckRequest, grpcError, type TestClient } from '../authz/wire.js';
import { generalNames, makeChain, makeWorkloadCert, uriName } from '../support/certs.js';
import { mtp, policySet, service, subset } from '../support/policies.js';
import { type InProcessServer, serveForFile } from '../support/server.js';

const SET = policySet([
  mtp('allow-web', service('backend'), [[service('web'), 'Allow']]),
  mtp('prod-only', service('vault'), [[subset({ env: 'prod' }), 'Allow']]),
]);
const WEB = makeWorkloadCert({ uris: ['spiffe://default/web'] });
const good: CheckRequestInit = {
  source: { certificate: WEB.urlEncoded },
  destination: { principal: 'spiffe://default/backend' },
  http: { method: 'GET', path: '/' },
};
const from = (certificate: string, destination = 'backend'): CheckRequestInit => ({
  source: { certificate },
  destination: { principal: `spiffe://default/${destination}` },
  http: { method: 'GET', path: '/' },
});

let server: InProcessServer;
let client: TestClient;

serveForFile(SET, (opened) => ({ server, client } = opened));

afterEach(async () => {
  // After every hostile input, a good request is answered normally.
  expect(await client.check(good)).toMatchObject({
    code: 0,
    metadata: { enforced_effective_policy_id: 'allow-web' },
  });
});

// ---------------------------------------------------------------------------------------------
// Raw HTTP/2

interface RawAnswer {
  status: number | undefined;
  grpcStatus: string | undefined;
  grpcMessage: string | undefined;
  data: Buffer;
}

function varint(value: number): Buffer {
  const bytes: number[] = [];
  for (; value >= 0x80; value = Math.floor(value / 128)) bytes.push((value % 128) | 0x80);
  bytes.push(value);
  return Buffer.from(bytes);
}

/** The length of the varint at bytes[at]. */
function varintLength(bytes: Buffer, at: number): number {
  let n = 1;
  while ((bytes[at + n - 1] as number) >= 0x80) n++;
  return n;
}

function frame(message: Buffer, options: { compressed?: boolean; announce?: number } = {}): Buffer {
  const header = Buffer.alloc(5);
  header[0] = options.compressed ? 1 : 0;
  header.writeUInt32BE(options.announce ?? message.length, 1);
  return Buffer.concat([header, message]);
}

function rawCall(body: Buffer, headers: http2.OutgoingHttpHeaders = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${server.target}`);
    session.on('error', reject);
    const stream = session.request({
      ':method': 'POST',
      ':path': '/envoy.service.auth.v3.Authorization/Check',
      'content-type': 'application/grpc',
      te: 'trailers',
      ...headers,
    });
    const answer: RawAnswer = {
      status: undefined,
      grpcStatus: undefined,
      grpcMessage: undefined,
      data: Buffer.alloc(0),
    };
    const take = (h: http2.IncomingHttpHeaders): void => {
      if (h[':status'] !== undefined) answer.status = Number(h[':status']);
      if (h['grpc-status'] !== undefined) answer.grpcStatus = String(h['grpc-status']);
      if (h['grpc-message'] !== undefined) answer.grpcMessage = decodeURIComponent(String(h['grpc-message']));
    };
    stream.on('response', take);
    stream.on('trailers', take);
    stream.on('data', (chunk: Buffer) => {
      answer.data = Buffer.concat([answer.data, chunk]);
    });
    stream.on('error', reject);
    stream.on('close', () => {
      session.close();
      resolve(answer);
    });
    stream.end(body);
  });
}

describe('malformed gRPC framing (raw HTTP/2)', () => {
  it('refuses protobuf garbage with INVALID_ARGUMENT', async () => {
    const answer = await rawCall(frame(Buffer.from([0x0a, 0x05, 0x01])));
    expect(answer).toMatchObject({ status: 200, grpcStatus: String(grpc.status.INVALID_ARGUMENT) });
    expect(answer.grpcMessage).toContain('malformed CheckRequest');
  });

  it('refuses a destination whose labels do not decode with INVALID_ARGUMENT, every time it comes', async () => {
    // attributes { source { certificate }, destination { principal, labels: { <key overruns> } } }
    const request = encodeCheckRequest({ source: { certificate: WEB.urlEncoded } });
    const attributes = request.subarray(1 + varintLength(request, 1)); // the attributes' fields
    const principal = Buffer.concat([Buffer.from([0x22, 24]), Buffer.from('spiffe://default/backend')]);
    const destination = Buffer.concat([principal, Buffer.from([0x1a, 0x03, 0x0a, 0x09, 0x41])]);
    const body = Buffer.concat([attributes, Buffer.from([0x12, destination.length]), destination]);
    const bytes = Buffer.concat([Buffer.from([0x0a]), varint(body.length), body]);
    for (let i = 0; i < 2; i++) {
      const answer = await rawCall(frame(bytes));
      expect(answer).toMatchObject({
        status: 200,
        grpcStatus: String(grpc.status.INVALID_ARGUMENT),
        grpcMessage: 'malformed CheckRequest: length exceeds the enclosing message',
      });
    }
  });

  it('refuses a frame shorter than it announces', async () => {
    const answer = await rawCall(frame(encodeCheckRequest(good), { announce: 5000 }).subarray(0, 200));
    expect(answer.grpcStatus).not.toBe('0');
    expect(answer.grpcStatus).toBeDefined();
  });

  it('refuses a truncated frame header', async () => {
    const answer = await rawCall(Buffer.from([0x00, 0x00, 0x00]));
    expect(answer.grpcStatus).not.toBe('0');
  });

  it('refuses a frame that announces 4 GiB', async () => {
    const answer = await rawCall(frame(Buffer.alloc(10), { announce: 0xffffffff }));
    expect(answer.grpcStatus).toBe(String(grpc.status.RESOURCE_EXHAUSTED));
  });

  it('refuses a gzip frame that is not gzip', async () => {
    const answer = await rawCall(frame(encodeCheckRequest(good), { compressed: true }), {
      'grpc-encoding': 'gzip',
    });
    expect(answer.grpcStatus).not.toBe('0');
    expect(answer.grpcStatus).toBeDefined();
  });

  it('refuses a frame with garbage after the message', async () => {
    const body = Buffer.concat([frame(encodeCheckRequest(good)), Buffer.from([0xde, 0xad])]);
    const answer = await rawCall(body);
    expect(answer.grpcStatus).toBeDefined();
  });

  it('answers an unknown method with UNIMPLEMENTED', async () => {
    const answer = await rawCall(frame(Buffer.alloc(0)), {
      ':path': '/envoy.service.auth.v3.Authorization/Nope',
    });
    expect(answer.grpcStatus).toBe(String(grpc.status.UNIMPLEMENTED));
  });

  it('answers an empty body (no message) with an error', async () => {
    const answer = await rawCall(Buffer.alloc(0));
    expect(answer.grpcStatus).not.toBe('0');
  });
});

describe('oversized and odd requests (grpc-js client)', () => {
  it('refuses a 10 MB request with RESOURCE_EXHAUSTED', async () => {
    const huge = { ...good, http: { method: 'GET', headers: { 'x-padding': 'x'.repeat(10 * 1024 * 1024) } } };
    const error = await grpcError(client.check(huge));
    expect(error.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  });

  it('serves a request just under the limit', async () => {
    const big = { ...good, http: { method: 'GET', headers: { 'x-padding': 'x'.repeat(1000 * 1024) } } };
    expect((await client.check(big)).code).toBe(0);
  });

  it('serves 20 000 headers', async () => {
    const headers: Record<string, string> = {};
    for (let i = 0; i < 20_000; i++) headers[`h-${i}`] = `${i}`;
    expect((await client.check({ ...good, http: { method: 'GET', headers } })).code).toBe(0);
  });

  it('serves headers holding invalid UTF-8', async () => {
    // attributes.request.http.headers entry {"x-bad": ff fe 41}, appended as a second attributes
    // field, which protobuf merges into the first.
    const lp = (tag: number, payload: Buffer) => Buffer.concat([Buffer.from([tag, payload.length]), payload]);
    const entry = Buffer.concat([lp(0x0a, Buffer.from('x-bad')), lp(0x12, Buffer.from([0xff, 0xfe, 0x41]))]);
    const extra = lp(0x0a, lp(0x22, lp(0x12, lp(0x1a, entry))));
    const answer = await client.check(Buffer.concat([encodeCheckRequest(good), extra]));
    expect(answer.code).toBe(0);
  });

  it('refuses protobuf garbage sent through grpc-js with INVALID_ARGUMENT', async () => {
    const error = await grpcError(client.checkRaw(Buffer.from([0xff, 0xff, 0xff])));
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
  });
});

describe('hostile certificates', () => {
  const denied = { code: 7, metadata: { enforced_engine_result: 'denied' } };

  it('denies garbage (invalid-identity)', async () => {
    expect(await client.check(from('MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA%%%'))).toMatchObject(denied);
    expect(
      await client.check(from('-----BEGIN CERTIFICATE-----%0AAAAA%0A-----END CERTIFICATE-----%0A')),
    ).toMatchObject(denied);
  });

  it('denies a bad percent-escape', async () => {
    expect(await client.check(from('%E0%A4%A'))).toMatchObject(denied);
  });

  it('reads a certificate that is not URL-encoded (raw PEM)', async () => {
    expect((await client.check(from(WEB.pem))).code).toBe(0);
  });

  it('reads the leaf of a chain', async () => {
    const chain = makeChain({ uris: ['spiffe://default/web'] });
    expect((await client.check(from(chain.urlEncoded))).metadata.enforced_effective_policy_id).toBe(
      'allow-web',
    );
  });

  it(`answers a certificate with ${DEFAULT_MAX_URI_SANS} SANs, and denies one with more`, async () => {
    const uris = ['spiffe://default/web'];
    for (let i = 1; i < DEFAULT_MAX_URI_SANS; i++) uris.push(`kuma://team-${i}/t${i}`);
    expect((await client.check(from(makeWorkloadCert({ uris }).urlEncoded))).code).toBe(0);
    uris.push('kuma://one/more');
    expect(await client.check(from(makeWorkloadCert({ uris }).urlEncoded))).toMatchObject(denied);
  });

  it('does not let a SAN smuggle a tag with ", URI:kuma://env/prod"', async () => {
    const smuggler = makeWorkloadCert({
      uris: [],
      sanValue: generalNames([
        uriName('spiffe://default/web'),
        uriName('kuma://team/a, URI:kuma://env/prod'),
      ]),
    });
    expect(await client.check(from(smuggler.urlEncoded, 'vault'))).toMatchObject(denied);
    const honest = makeWorkloadCert({ uris: ['spiffe://default/web', 'kuma://env/prod'] });
    expect((await client.check(from(honest.urlEncoded, 'vault'))).code).toBe(0);
  });

  it('denies a certificate of a few hundred kilobytes', async () => {
    expect(await client.check(from('A'.repeat(300 * 1024)))).toMatchObject(denied);
  });
});
