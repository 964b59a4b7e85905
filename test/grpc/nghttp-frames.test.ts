/**
 * The gRPC port of the real service (examples/policies, --max-request-bytes 4096) as an HTTP/2
 * client that is not Node sees it: nghttp (nghttp2-client) sends each call, and its frame log says
 * what came back — HEADERS and trailers, DATA, RST_STREAM, GOAWAY. The same edge cases as
 * transport.test.ts, checked against an independent HTTP/2 implementation.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeWorkloadCert } from '../support/certs.js';
import {
  type HeaderBlock,
  nghttp,
  type NghttpCall,
  type NghttpRun,
  type StreamLog,
} from '../support/nghttp.js';
import { type ServedHere, serveInProcess } from '../support/serve-in-process.js';
import { REPO } from '../support/server.js';
import { tempDir } from '../support/temp-files.js';
import { encodeSidecarCheck } from '../../kit/sidecar.mjs';
import {
  CHECK_METHOD,
  decodeCheckResponse,
  decodeHealthResponse,
  encodeHealthRequest,
  HEALTH_CHECK_METHOD,
  HEALTH_WATCH_METHOD,
} from '../../kit/wire.mjs';

const MAX_REQUEST_BYTES = 4096;
const GRPC_HEADERS = { ':status': '200', 'content-type': 'application/grpc' };

/** The Check an Envoy sidecar of payments (mesh default) sends for a call from `client`. */
function checkFrom(client: string): Buffer {
  const principal = `spiffe://default/${client}`;
  return encodeSidecarCheck({
    client: { principal, certificate: makeWorkloadCert({ uris: [principal] }).urlEncoded },
    destination: { principal: 'spiffe://default/payments', labels: { app: 'payments' } },
    http: { method: 'GET', path: '/', host: 'payments.mesh' },
  });
}

function frame(message: Buffer, flags = 0, announce = message.length): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = flags;
  prefix.writeUInt32BE(announce, 1);
  return Buffer.concat([prefix, message]);
}

const fieldsOf = (block: HeaderBlock | undefined): Record<string, string> =>
  Object.fromEntries(block?.fields ?? []);

/** The message a DATA frame holds, whole: uncompressed, its prefix announcing the rest. */
function messageOf(data: Buffer): Buffer {
  expect(data[0]).toBe(0);
  expect(data.readUInt32BE(1)).toBe(data.length - 5);
  return data.subarray(5);
}

/** An answer's headers, DATA frames and grpc-status 0 in trailers; the message of each DATA frame. */
function answered(stream: StreamLog): Buffer[] {
  expect(stream.headerBlocks.map((block) => block.endStream)).toEqual([false, true]);
  expect(fieldsOf(stream.headerBlocks[0])).toEqual(GRPC_HEADERS);
  expect(fieldsOf(stream.headerBlocks[1])).toEqual({ 'grpc-status': '0' });
  expect(stream.resets).toEqual([]);
  return stream.data.map(messageOf);
}

/** The one message of a unary answer, in one DATA frame. */
function unaryMessage(stream: StreamLog): Buffer {
  const messages = answered(stream);
  expect(messages).toHaveLength(1);
  return messages[0] as Buffer;
}

/** A trailers-only answer: one HEADERS frame that ends the stream, no DATA; its header fields. */
function trailersOnly(stream: StreamLog): Record<string, string> {
  expect(stream.headerBlocks.map((block) => block.endStream)).toEqual([true]);
  expect(stream.data).toEqual([]);
  return fieldsOf(stream.headerBlocks[0]);
}

const refused = (code: number, message: string) => ({
  ...GRPC_HEADERS,
  'grpc-status': String(code),
  'grpc-message': message,
});

/** The connection survived: the server sent no GOAWAY and reset streams only with NO_ERROR. */
function connectionKept(run: NghttpRun): void {
  expect(run.connections).toBe(1);
  expect(run.goaways).toEqual([]);
  for (const stream of run.streams) expect(stream.resets.filter((code) => code !== 'NO_ERROR')).toEqual([]);
}

const ALLOWED = {
  code: 0,
  ok: { headers: [] },
  metadata: { enforced_engine_result: 'allowed', enforced_effective_policy_id: 'allow-orders' },
  httpResponse: 'okResponse',
};

let server: ServedHere;
let bodies: string;

beforeAll(async () => {
  bodies = tempDir('mtp-nghttp-');
  server = await serveInProcess([
    '--policies',
    join(REPO, 'examples/policies'),
    '--max-request-bytes',
    String(MAX_REQUEST_BYTES),
  ]);
});

afterAll(async () => {
  server.kill();
  await server.exited;
  rmSync(bodies, { recursive: true, force: true });
});

let written = 0;
/** A file holding `body`, for nghttp's -d. */
function bodyFileOf(body: Buffer): string {
  const file = join(bodies, `body-${written++}`);
  writeFileSync(file, body);
  return file;
}

/** Runs nghttp with `body` as the request body of every path. */
async function send(
  paths: readonly string[],
  body: Buffer,
  options: Pick<NghttpCall, 'headers' | 'times'> = {},
): Promise<NghttpRun> {
  const bodyFile = bodyFileOf(body);
  const run = await nghttp({ authority: `http://${server.grpcTarget}`, paths, bodyFile, ...options });
  expect(run.streams.map((stream) => stream.path)).toEqual(
    paths.flatMap((path) => Array<string>(options.times ?? 1).fill(path)),
  );
  return run;
}

/** One call; the stream it answered. */
async function callOnce(path: string, body: Buffer): Promise<StreamLog> {
  const run = await send([path], body);
  connectionKept(run);
  return run.streams[0] as StreamLog;
}

/**
 * The same refused call twice on one connection: both answered trailers-only, alike, and the
 * connection kept. The header fields of the answer.
 */
async function refusedTwice(
  path: string,
  body: Buffer,
  headers: Readonly<Record<string, string>> = {},
): Promise<Record<string, string>> {
  const run = await send([path], body, { headers, times: 2 });
  connectionKept(run);
  const [first, second] = run.streams.map(trailersOnly);
  expect(second).toEqual(first);
  return first as Record<string, string>;
}

describe('answers', () => {
  it('answers an allowed client: one CheckResponse of status 0, grpc-status 0', async () => {
    const stream = await callOnce(CHECK_METHOD, frame(checkFrom('orders')));
    expect(decodeCheckResponse(unaryMessage(stream))).toEqual(ALLOWED);
  });

  it('answers a denied client with status 7 in the message, still grpc-status 0', async () => {
    const stream = await callOnce(CHECK_METHOD, frame(checkFrom('billing')));
    expect(decodeCheckResponse(unaryMessage(stream))).toEqual({
      code: 7,
      denied: { httpStatus: 403, body: 'RBAC: access denied', headers: [] },
      metadata: { enforced_engine_result: 'denied', enforced_effective_policy_id: 'deny-all' },
      httpResponse: 'deniedResponse',
    });
  });

  it('answers grpc.health.v1.Health/Check SERVING', async () => {
    const stream = await callOnce(HEALTH_CHECK_METHOD, frame(encodeHealthRequest('')));
    expect(decodeHealthResponse(unaryMessage(stream))).toBe('SERVING');
  });
});

describe('refusals: trailers-only, the percent-encoded grpc-message exact, the connection kept', () => {
  const ALLOWED_CHECK = frame(checkFrom('orders'));

  it('answers an unknown method UNIMPLEMENTED', async () => {
    expect(await refusedTwice('/envoy.service.auth.v2.Authorization/Check', ALLOWED_CHECK)).toEqual(
      refused(12, 'method /envoy.service.auth.v2.Authorization/Check is not served here'),
    );
  });

  it('refuses grpc-encoding gzip UNIMPLEMENTED', async () => {
    expect(await refusedTwice(CHECK_METHOD, ALLOWED_CHECK, { 'grpc-encoding': 'gzip' })).toEqual(
      refused(12, 'grpc-encoding "gzip" is not supported; send messages uncompressed (identity)'),
    );
  });

  it('refuses a message flagged compressed without grpc-encoding INTERNAL', async () => {
    expect(await refusedTwice(CHECK_METHOD, frame(checkFrom('orders'), 1))).toEqual(
      refused(13, 'request message is compressed, but no grpc-encoding was given'),
    );
  });

  it('refuses unknown frame flags INTERNAL', async () => {
    expect(await refusedTwice(CHECK_METHOD, frame(checkFrom('orders'), 0x80))).toEqual(
      refused(13, 'request frame has unknown flags 0x80'),
    );
  });

  it('refuses a frame shorter than its prefix announces INTERNAL', async () => {
    const message = checkFrom('orders');
    expect(await refusedTwice(CHECK_METHOD, frame(message, 0, message.length + 100))).toEqual(
      refused(13, `request frame is truncated: ${message.length} of ${message.length + 100} message bytes`),
    );
  });

  it('refuses a message over --max-request-bytes RESOURCE_EXHAUSTED; one of the limit gets to the decoder', async () => {
    expect(await refusedTwice(CHECK_METHOD, frame(Buffer.alloc(MAX_REQUEST_BYTES + 1)))).toEqual(
      refused(8, 'request message of 4097 bytes is over the limit of 4096 (--max-request-bytes)'),
    );
    // Zeros are no CheckRequest: refused by the decoder, not for their size.
    expect(await refusedTwice(CHECK_METHOD, frame(Buffer.alloc(MAX_REQUEST_BYTES)))).toEqual(
      refused(3, 'malformed CheckRequest: field number 0'),
    );
  });

  it('refuses a wrong content-type INTERNAL', async () => {
    expect(await refusedTwice(CHECK_METHOD, ALLOWED_CHECK, { 'content-type': 'application/json' })).toEqual(
      refused(13, 'content-type must be application/grpc, not "application/json"'),
    );
  });

  it('percent-encodes % and non-ASCII bytes in grpc-message', async () => {
    // The quoted value is cut at 64 characters and ends with an ellipsis (U+2026, 3 UTF-8 bytes).
    const contentType = `text/100%${'a'.repeat(60)}`;
    expect(await refusedTwice(CHECK_METHOD, ALLOWED_CHECK, { 'content-type': contentType })).toEqual(
      refused(13, `content-type must be application/grpc, not "text/100%25${'a'.repeat(55)}%E2%80%A6"`),
    );
  });

  it('refuses a body that is not a CheckRequest INVALID_ARGUMENT, and serves the next Check', async () => {
    expect(await refusedTwice(CHECK_METHOD, frame(Buffer.from([0x0a, 0x05, 0x01])))).toEqual(
      refused(3, 'malformed CheckRequest: length exceeds the enclosing message'),
    );
    const next = await callOnce(CHECK_METHOD, ALLOWED_CHECK);
    expect(decodeCheckResponse(unaryMessage(next))).toEqual(ALLOWED);
  });
});

describe('one connection, many calls', () => {
  it('answers an unknown method UNIMPLEMENTED and a Check on the same connection OK, without GOAWAY', async () => {
    const run = await send(['/nope.Nope/Call', CHECK_METHOD], frame(checkFrom('orders')));
    connectionKept(run);
    const [unknown, check] = run.streams as [StreamLog, StreamLog];
    expect(trailersOnly(unknown)).toEqual(refused(12, 'method /nope.Nope/Call is not served here'));
    expect(decodeCheckResponse(unaryMessage(check))).toEqual(ALLOWED);
  });

  it('answers 50 Checks on one connection, every one allowed', async () => {
    const run = await send([CHECK_METHOD], frame(checkFrom('orders')), { times: 50 });
    connectionKept(run);
    expect(new Set(run.streams.map((stream) => stream.id)).size).toBe(50);
    for (const stream of run.streams) expect(decodeCheckResponse(unaryMessage(stream))).toEqual(ALLOWED);
  });
});

describe('drain', () => {
  it('ends a Health Watch with NOT_SERVING and grpc-status 0, after GOAWAY NO_ERROR', async () => {
    const draining = await serveInProcess(['--policies', join(REPO, 'examples/policies')]);
    let run: NghttpRun;
    try {
      run = await nghttp({
        authority: `http://${draining.grpcTarget}`,
        paths: [HEALTH_WATCH_METHOD],
        bodyFile: bodyFileOf(frame(encodeHealthRequest(''))),
        // The drain begins once the watch has its first status, its stream open.
        onOutput: (soFar) => soFar.includes('recv DATA frame') && draining.kill(),
      });
    } finally {
      draining.kill();
    }
    expect(await draining.exited).toBe(0);
    expect(run.goaways).toEqual(['NO_ERROR']);
    const [watch] = run.streams as [StreamLog];
    expect(answered(watch).map(decodeHealthResponse)).toEqual(['SERVING', 'NOT_SERVING']);
  });
});
