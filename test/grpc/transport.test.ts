/**
 * The gRPC transport on node:http2, frame by frame with a raw HTTP/2 client: what a call answers,
 * how each refusal looks on the wire (status, percent-encoded message, trailers-only), that a bad
 * call leaves the connection serving, pings, Unix sockets, GOAWAY and the shutdown grace.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createGrpcTransport,
  type GrpcTransport,
  type Refusal,
  type Route,
  type ServerStream,
} from '../../src/grpc/server.js';
import { GRPC_STATUS, GrpcFailure, percentEncode } from '../../src/grpc/status.js';

const MAX_REQUEST_BYTES = 1024;

interface Answer {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders | undefined;
  data: Buffer;
  /** The messages of the response body, unframed. */
  messages: Buffer[];
}

function frame(message: Buffer, flags = 0, announce = message.length): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = flags;
  prefix.writeUInt32BE(announce, 1);
  return Buffer.concat([prefix, message]);
}

function unframe(data: Buffer): Buffer[] {
  const messages: Buffer[] = [];
  for (let at = 0; at < data.length;) {
    const length = data.readUInt32BE(at + 1);
    messages.push(data.subarray(at + 5, at + 5 + length));
    at += 5 + length;
  }
  return messages;
}

function request(session: ClientHttp2Session, path: string, headers: http2.OutgoingHttpHeaders = {}) {
  return session.request({
    ':method': 'POST',
    ':path': path,
    'content-type': 'application/grpc',
    te: 'trailers',
    ...headers,
  });
}

function answerOf(stream: ClientHttp2Stream): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (headers = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', reject);
    stream.on('close', () => {
      const data = Buffer.concat(chunks);
      resolve({ headers, trailers, data, messages: unframe(data) });
    });
  });
}

function call(
  session: ClientHttp2Session,
  path: string,
  body: Buffer,
  headers: http2.OutgoingHttpHeaders = {},
): Promise<Answer> {
  const stream = request(session, path, headers);
  const answer = answerOf(stream);
  stream.end(body);
  return answer;
}

function connect(authority: string, options: http2.SecureClientSessionOptions = {}): ClientHttp2Session {
  const session = http2.connect(authority, options);
  session.on('error', () => {});
  return session;
}

/** The status of a trailers-only answer: in the response headers, no body, no trailers. */
function trailersOnly(answer: Answer): { status: string; message: string } {
  expect(answer.headers[':status']).toBe(200);
  expect(answer.data.length).toBe(0);
  expect(answer.trailers).toBeUndefined();
  return { status: String(answer.headers['grpc-status']), message: String(answer.headers['grpc-message']) };
}

const refusals: Array<[Refusal, string]> = [];
const watchers: ServerStream[] = [];

/** Constant answers, more of them than the transport keeps framed. */
const PICKS = Array.from({ length: 12 }, (_, i) => Buffer.from(`answer ${i}`));

const routes = new Map<string, Route>([
  ['/test.Echo/Echo', { kind: 'unary', handle: (request) => request }],
  ['/test.Echo/Pick', { kind: 'unary', handle: (request) => PICKS[request[0] ?? 0] as Buffer }],
  [
    '/test.Echo/Tags',
    { kind: 'unary', handle: (_request, headers) => Buffer.from(String(headers['x-tags'] ?? '')) },
  ],
  [
    '/test.Echo/Fail',
    { kind: 'unary', handle: () => new GrpcFailure(GRPC_STATUS.NOT_FOUND, 'no "échec" here: 100%') },
  ],
  [
    '/test.Echo/Throw',
    {
      kind: 'unary',
      handle: () => {
        throw new Error('handler bug');
      },
    },
  ],
  [
    '/test.Echo/Watch',
    {
      kind: 'stream',
      handle: (request, stream) => {
        stream.write(request);
        stream.write(Buffer.from('second'));
        watchers.push(stream);
      },
    },
  ],
]);

const handlerErrors: unknown[] = [];
function transport(): GrpcTransport {
  return createGrpcTransport({
    routes,
    maxRequestBytes: MAX_REQUEST_BYTES,
    maxConcurrentStreams: 16,
    onRefusal: (refusal, path) => refusals.push([refusal, path]),
    onHandlerError: (error) => handlerErrors.push(error),
  });
}

describe('calls and refusals over TCP', () => {
  let server: GrpcTransport;
  let session: ClientHttp2Session;
  beforeAll(async () => {
    server = transport();
    const port = await server.listen({ host: '127.0.0.1', port: 0 });
    session = connect(`http://127.0.0.1:${port}`);
  });
  afterAll(async () => {
    session.close();
    await server.close(1000);
  });
  afterEach(async () => {
    // Whatever the call before did, the same connection still serves.
    const answer = await call(session, '/test.Echo/Echo', frame(Buffer.from('still here')));
    expect(answer.messages).toEqual([Buffer.from('still here')]);
    expect(session.destroyed).toBe(false);
    refusals.length = 0;
  });

  it('answers a unary call: headers, one framed message, grpc-status 0 in trailers', async () => {
    const answer = await call(session, '/test.Echo/Echo', frame(Buffer.from('hello')));
    expect(answer.headers[':status']).toBe(200);
    expect(answer.headers['content-type']).toBe('application/grpc');
    expect(answer.data).toEqual(frame(Buffer.from('hello')));
    expect(answer.trailers?.['grpc-status']).toBe('0');
    expect(answer.headers.date).toBeUndefined();
    expect(refusals).toEqual([]);
  });

  it('answers each call with its own message while shared answers alternate', async () => {
    const order = [...PICKS.keys(), ...PICKS.keys(), 3, 3, 11, 0, 11];
    const answers = await Promise.all(
      order.map((i) => call(session, '/test.Echo/Pick', frame(Buffer.from([i])))),
    );
    expect(answers.map((a) => a.messages)).toEqual(order.map((i) => [PICKS[i]]));
  });

  it('collects a message sent in many DATA chunks', async () => {
    const message = Buffer.alloc(1000, 7);
    const body = frame(message);
    const stream = request(session, '/test.Echo/Echo');
    const answer = answerOf(stream);
    for (let at = 0; at < body.length; at += 3) stream.write(body.subarray(at, at + 3));
    stream.end();
    expect((await answer).messages).toEqual([message]);
  });

  it('answers an empty message', async () => {
    const answer = await call(session, '/test.Echo/Echo', frame(Buffer.alloc(0)));
    expect(answer.messages).toEqual([Buffer.alloc(0)]);
    expect(answer.trailers?.['grpc-status']).toBe('0');
  });

  it('hands the request headers to the handler and tolerates grpc-timeout', async () => {
    const answer = await call(session, '/test.Echo/Tags', frame(Buffer.alloc(0)), {
      'x-tags': 'kuma.io/service=backend',
      'grpc-timeout': '250m',
    });
    expect(answer.messages).toEqual([Buffer.from('kuma.io/service=backend')]);
  });

  it('sends a failure trailers-only, its message percent-encoded', async () => {
    const answer = await call(session, '/test.Echo/Fail', frame(Buffer.alloc(0)));
    expect(trailersOnly(answer)).toEqual({
      status: String(GRPC_STATUS.NOT_FOUND),
      message: 'no "%C3%A9chec" here: 100%25',
    });
  });

  it('answers INTERNAL when a handler throws, and reports the error', async () => {
    const answer = await call(session, '/test.Echo/Throw', frame(Buffer.alloc(0)));
    expect(trailersOnly(answer)).toEqual({
      status: String(GRPC_STATUS.INTERNAL),
      message: 'the server failed to answer',
    });
    expect(handlerErrors).toEqual([new Error('handler bug')]);
  });

  it('answers an unknown method UNIMPLEMENTED and counts it', async () => {
    const answer = await call(session, '/envoy.service.auth.v2.Authorization/Check', frame(Buffer.alloc(0)));
    expect(trailersOnly(answer)).toEqual({
      status: String(GRPC_STATUS.UNIMPLEMENTED),
      message: 'method /envoy.service.auth.v2.Authorization/Check is not served here',
    });
    expect(refusals).toEqual([['unimplemented', '/envoy.service.auth.v2.Authorization/Check']]);
  });

  it('refuses a compressed call UNIMPLEMENTED before reading it', async () => {
    const answer = await call(session, '/test.Echo/Echo', frame(Buffer.from('x'), 1), {
      'grpc-encoding': 'gzip',
    });
    expect(trailersOnly(answer)).toEqual({
      status: String(GRPC_STATUS.UNIMPLEMENTED),
      message: 'grpc-encoding "gzip" is not supported; send messages uncompressed (identity)',
    });
    expect(refusals).toEqual([['malformed', '/test.Echo/Echo']]);
  });

  it('quotes at most 64 characters of a refused header back', async () => {
    const answer = await call(session, '/test.Echo/Echo', frame(Buffer.from('x')), {
      'content-type': `text/${'a'.repeat(1000)}`,
    });
    expect(decodeURIComponent(trailersOnly(answer).message)).toBe(
      `content-type must be application/grpc, not "text/${'a'.repeat(59)}…"`,
    );
  });

  it('serves grpc-encoding identity', async () => {
    const answer = await call(session, '/test.Echo/Echo', frame(Buffer.from('plain')), {
      'grpc-encoding': 'identity',
    });
    expect(answer.messages).toEqual([Buffer.from('plain')]);
  });

  it('refuses a message flagged compressed without grpc-encoding INTERNAL', async () => {
    const answer = await call(session, '/test.Echo/Echo', frame(Buffer.from('x'), 1));
    expect(trailersOnly(answer)).toEqual({
      status: String(GRPC_STATUS.INTERNAL),
      message: 'request message is compressed, but no grpc-encoding was given',
    });
  });

  it('refuses unknown frame flags INTERNAL', async () => {
    const answer = await call(session, '/test.Echo/Echo', frame(Buffer.from('x'), 0x80));
    expect(trailersOnly(answer).message).toBe('request frame has unknown flags 0x80');
  });

  it('refuses a body that is not gRPC (wrong content-type) INTERNAL', async () => {
    const answer = await call(session, '/test.Echo/Echo', frame(Buffer.from('x')), {
      'content-type': 'application/json',
    });
    expect(trailersOnly(answer)).toEqual({
      status: String(GRPC_STATUS.INTERNAL),
      message: 'content-type must be application/grpc, not "application/json"',
    });
  });

  it('refuses an oversized message RESOURCE_EXHAUSTED from its prefix, without waiting for it', async () => {
    const stream = request(session, '/test.Echo/Echo');
    const answer = answerOf(stream);
    // Only the prefix is sent, and the stream is left open: the answer comes anyway.
    stream.write(frame(Buffer.alloc(0), 0, 0xffffffff));
    expect(trailersOnly(await answer)).toEqual({
      status: String(GRPC_STATUS.RESOURCE_EXHAUSTED),
      message: 'request message of 4294967295 bytes is over the limit of 1024 (--max-request-bytes)',
    });
    expect(refusals).toEqual([['oversized', '/test.Echo/Echo']]);
  });

  it('serves a message of exactly the limit', async () => {
    const message = Buffer.alloc(MAX_REQUEST_BYTES, 1);
    expect((await call(session, '/test.Echo/Echo', frame(message))).messages).toEqual([message]);
  });

  it.each([
    ['an empty body', Buffer.alloc(0), 'request has no message'],
    ['a truncated prefix', Buffer.from([0, 0, 0]), 'request frame is truncated'],
    [
      'a message shorter than announced',
      frame(Buffer.alloc(10), 0, 100),
      'request frame is truncated: 10 of 100 message bytes',
    ],
    [
      'two messages',
      Buffer.concat([frame(Buffer.from('a')), frame(Buffer.from('b'))]),
      'a unary request carries exactly one message',
    ],
    [
      'bytes after the message',
      Buffer.concat([frame(Buffer.from('a')), Buffer.from([0xde])]),
      'a unary request carries exactly one message',
    ],
  ])('refuses %s INTERNAL and counts it malformed', async (_name, body, message) => {
    const answer = await call(session, '/test.Echo/Echo', body);
    expect(trailersOnly(answer)).toEqual({ status: String(GRPC_STATUS.INTERNAL), message });
    expect(refusals).toEqual([['malformed', '/test.Echo/Echo']]);
  });

  it('answers keepalive pings', async () => {
    const ok = await new Promise<boolean>((resolve) => session.ping((error) => resolve(error === null)));
    expect(ok).toBe(true);
  });

  it('keeps serving when a client resets its call midway', async () => {
    const stream = request(session, '/test.Echo/Echo');
    stream.on('error', () => {});
    stream.write(frame(Buffer.alloc(100), 0, 200).subarray(0, 50));
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await new Promise((resolve) => stream.on('close', resolve));
  });

  it('survives clients that reset calls right after sending them, on every route', async () => {
    const paths = ['/test.Echo/Echo', '/test.Echo/Fail', '/test.Echo/Watch', '/nope/Nope'];
    const closed: Array<Promise<unknown>> = [];
    for (let i = 0; i < 200; i++) {
      const stream = request(session, paths[i % paths.length] as string);
      stream.on('error', () => {});
      stream.end(frame(Buffer.from('bye')));
      if (i % 2 === 0) stream.close(http2.constants.NGHTTP2_CANCEL);
      else setImmediate(() => stream.close(http2.constants.NGHTTP2_CANCEL));
      closed.push(new Promise((resolve) => stream.on('close', resolve)));
    }
    await Promise.all(closed);
  });

  /** A Watch stream whose first message the server has answered: the client's answer, the server's stream. */
  async function openWatch() {
    watchers.length = 0;
    const stream = request(session, '/test.Echo/Watch');
    const answer = answerOf(stream);
    stream.end(frame(Buffer.from('first')));
    await new Promise((resolve) => stream.once('data', resolve));
    return { answer, watcher: watchers[0] as ServerStream };
  }

  it('streams messages and ends with OK trailers; a cancelled stream runs its close listener', async () => {
    const { answer, watcher } = await openWatch();
    let closed = 0;
    watcher.onClose(() => closed++);
    watcher.end();
    const done = await answer;
    expect(done.messages).toEqual([Buffer.from('first'), Buffer.from('second')]);
    expect(done.trailers?.['grpc-status']).toBe('0');
    expect(closed).toBe(1);

    const cancelled = request(session, '/test.Echo/Watch');
    cancelled.on('error', () => {});
    cancelled.end(frame(Buffer.from('x')));
    await new Promise((resolve) => cancelled.once('data', resolve));
    const second = watchers[1] as ServerStream;
    const closedOnCancel = new Promise<void>((resolve) => second.onClose(resolve));
    cancelled.close(http2.constants.NGHTTP2_CANCEL);
    await closedOnCancel;
  });

  it('ends a stream with a failure in trailers once messages were sent', async () => {
    const { answer, watcher } = await openWatch();
    watcher.end(new GrpcFailure(GRPC_STATUS.UNAVAILABLE, 'going away'));
    const done = await answer;
    expect(done.trailers?.['grpc-status']).toBe(String(GRPC_STATUS.UNAVAILABLE));
    expect(done.trailers?.['grpc-message']).toBe('going away');
  });
});

describe('percentEncode', () => {
  it('keeps printable ASCII and encodes %, controls and UTF-8 bytes', () => {
    expect(percentEncode('plain text: "ok" (1)')).toBe('plain text: "ok" (1)');
    expect(percentEncode('100%\n\u00e9\u20ac')).toBe('100%25%0A%C3%A9%E2%82%AC');
  });
});

describe('Unix socket', () => {
  it('serves calls on a socket path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtp-grpc-unix-'));
    const path = join(dir, 'grpc.sock');
    const server = transport();
    try {
      expect(await server.listen({ kind: 'unix', path })).toBeUndefined();
      const session = connect('http://localhost', { path } as http2.SecureClientSessionOptions);
      const answer = await call(session, '/test.Echo/Echo', frame(Buffer.from('over unix')));
      expect(answer.messages).toEqual([Buffer.from('over unix')]);
      session.close();
    } finally {
      await server.close(1000);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('close', () => {
  it('sends GOAWAY, lets the call in flight finish, then resolves', async () => {
    const server = transport();
    const port = await server.listen({ host: '127.0.0.1', port: 0 });
    const session = connect(`http://127.0.0.1:${port}`);
    await call(session, '/test.Echo/Echo', frame(Buffer.from('warm')));
    const goaway = new Promise<void>((resolve) => session.once('goaway', () => resolve()));
    const inFlight = request(session, '/test.Echo/Echo');
    const answer = answerOf(inFlight);
    inFlight.write(frame(Buffer.from('late'), 0, 4).subarray(0, 3));
    await new Promise((resolve) => setTimeout(resolve, 50));
    let closed = false;
    const closing = server.close(10_000).then(() => (closed = true));
    await goaway;
    expect(closed).toBe(false);
    inFlight.end(frame(Buffer.from('late')).subarray(3));
    expect((await answer).messages).toEqual([Buffer.from('late')]);
    await closing;
    expect(closed).toBe(true);
    session.destroy();
  });

  it('cuts what is left after the grace and says so', async () => {
    const server = transport();
    const port = await server.listen({ host: '127.0.0.1', port: 0 });
    const session = connect(`http://127.0.0.1:${port}`);
    const stuck = request(session, '/test.Echo/Echo');
    stuck.on('error', () => {});
    stuck.write(Buffer.from([0]));
    await new Promise((resolve) => setTimeout(resolve, 50));
    let forced = false;
    const started = Date.now();
    await server.close(200, () => (forced = true));
    expect(forced).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    session.destroy();
  });
});
