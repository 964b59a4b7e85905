/**
 * A gRPC server on `node:http2` for the small part of gRPC Envoy speaks to this service: unary
 * calls and server-streaming calls with one request message, uncompressed. It is the one place
 * that knows gRPC's framing, headers and trailers; handlers take and return message bytes.
 *
 * Every refusal is a gRPC status on that stream alone (trailers-only when nothing was sent yet),
 * so a bad call never costs the connection the other calls on it.
 */
import http2, {
  constants,
  type Http2Server,
  type Http2Session,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import { FramedMessages, frameMessage, UnaryBodyReader } from './framing.js';
import { GRPC_STATUS, GrpcFailure, type GrpcStatusCode, percentEncode, quoted } from './status.js';

/**
 * Answers a unary call: the response message, or a failure. The transport keeps recent answers
 * framed by buffer identity, so a message buffer must not change once returned.
 */
export type UnaryHandler = (request: Buffer, headers: IncomingHttpHeaders) => Buffer | GrpcFailure;

/** The response side of a server-streaming call. */
export interface ServerStream {
  write(message: Buffer): void;
  /** Ends the call with OK, or with a failure. */
  end(failure?: GrpcFailure): void;
  /** Runs once when the call ends, whichever side ended it. */
  onClose(listener: () => void): void;
}
export type StreamingHandler = (request: Buffer, call: ServerStream) => void;

export type Route =
  | { readonly kind: 'unary'; readonly handle: UnaryHandler }
  | { readonly kind: 'stream'; readonly handle: StreamingHandler };

/** Why a call was refused before its handler ran; `path` says which method it called. */
export type Refusal = 'oversized' | 'unimplemented' | 'malformed';

export interface GrpcTransportOptions {
  readonly routes: ReadonlyMap<string, Route>;
  readonly maxRequestBytes: number;
  readonly maxConcurrentStreams: number;
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer; readonly clientCa?: Buffer };
  readonly onRefusal?: (refusal: Refusal, path: string) => void;
  /** A handler threw: answered INTERNAL, and reported here. */
  readonly onHandlerError?: (error: unknown, path: string) => void;
}

export type ListenAddress =
  { readonly kind: 'unix'; readonly path: string } | { readonly host: string; readonly port: number };

export interface GrpcTransport {
  /** Resolves with the bound TCP port (undefined for a Unix socket). */
  listen(address: ListenAddress): Promise<number | undefined>;
  /** Stops accepting, sends GOAWAY, lets open calls finish; destroys what is left after `graceMs`. */
  close(graceMs: number, onForce?: () => void): Promise<void>;
  /** Closes every connection now. */
  destroy(): void;
}

const {
  HTTP2_HEADER_PATH,
  HTTP2_HEADER_CONTENT_TYPE,
  HTTP2_HEADER_STATUS,
  NGHTTP2_NO_ERROR,
  NGHTTP2_CANCEL,
} = constants;

// node:http2 copies header objects it is given, so these are shared by every call. No `date`
// header: gRPC does not use it, and it would be one more header to build and encode per call.
const RESPONSE_HEADERS = { [HTTP2_HEADER_STATUS]: 200, [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc' };
const OK_TRAILERS = { 'grpc-status': '0' };
const ANSWER_OPTIONS = { waitForTrailers: true, sendDate: false };
const TRAILERS_ONLY_OPTIONS = { endStream: true, sendDate: false };

function trailersOnly(stream: ServerHttp2Stream, code: GrpcStatusCode, details: string): void {
  if (stream.destroyed || stream.closed) return;
  if (stream.headersSent) {
    // Response headers are out: the status goes in trailers.
    stream.close(NGHTTP2_CANCEL);
    return;
  }
  stream.respond(
    { ...RESPONSE_HEADERS, 'grpc-status': String(code), 'grpc-message': percentEncode(details) },
    TRAILERS_ONLY_OPTIONS,
  );
  // The client may still be sending a body nobody will read: tell it to stop (RST_STREAM NO_ERROR).
  if (!stream.readableEnded) stream.close(NGHTTP2_NO_ERROR);
}

function fail(stream: ServerHttp2Stream, failure: GrpcFailure): void {
  trailersOnly(stream, failure.code, failure.details);
}

// 'wantTrailers' fires once per stream: a plain listener, no once() wrapper to allocate.
function sendOkTrailers(this: ServerHttp2Stream): void {
  if (!this.destroyed) this.sendTrailers(OK_TRAILERS);
}

function answer(stream: ServerHttp2Stream, framed: Buffer): void {
  if (stream.destroyed || stream.closed) return;
  stream.respond(RESPONSE_HEADERS, ANSWER_OPTIONS);
  stream.on('wantTrailers', sendOkTrailers);
  stream.end(framed);
}

function ignore(): void {}

/** Why a call's headers alone refuse it, or undefined. */
function refusedByHeaders(headers: IncomingHttpHeaders): GrpcFailure | undefined {
  const type = headers[HTTP2_HEADER_CONTENT_TYPE];
  if (typeof type !== 'string' || !type.startsWith('application/grpc')) {
    return new GrpcFailure(
      GRPC_STATUS.INTERNAL,
      `content-type must be application/grpc, not ${quoted(String(type ?? ''))}`,
    );
  }
  const encoding = headers['grpc-encoding'];
  if (encoding !== undefined && encoding !== 'identity') {
    return new GrpcFailure(
      GRPC_STATUS.UNIMPLEMENTED,
      `grpc-encoding ${quoted(String(encoding))} is not supported; send messages uncompressed (identity)`,
    );
  }
  return undefined;
}

const CALL = Symbol('call');
const NO_HEADERS: IncomingHttpHeaders = {};
/** A stream with its call attached: the listeners below are shared by every stream. */
type CallStream = ServerHttp2Stream & { [CALL]: Call };

/** One call in progress: where it is routed, and its request body as it arrives. */
class Call extends UnaryBodyReader {
  /** Answered or refused: later chunks and the end of the body are ignored. */
  done = false;

  constructor(
    readonly dispatcher: Dispatcher,
    readonly route: Route,
    readonly path: string,
    /** Until the handler runs; then dropped, as the stream outlives the call by a few turns. */
    public headers: IncomingHttpHeaders,
    maxRequestBytes: number,
  ) {
    super(maxRequestBytes);
  }
}

function onCallData(this: CallStream, chunk: Buffer): void {
  const call = this[CALL];
  if (call.done) return;
  const failure = call.push(chunk);
  if (failure === undefined) return;
  call.done = true;
  call.dispatcher.refuse(
    this,
    call.path,
    failure.code === GRPC_STATUS.RESOURCE_EXHAUSTED ? 'oversized' : 'malformed',
    failure,
  );
}

function onCallEnd(this: CallStream): void {
  const call = this[CALL];
  if (call.done) return;
  call.done = true;
  call.dispatcher.run(this, call);
}

/** Runs a call's handler once its request is in, and answers. */
class Dispatcher {
  readonly #framed = new FramedMessages();

  constructor(private readonly options: GrpcTransportOptions) {}

  refuse(stream: ServerHttp2Stream, path: string, refusal: Refusal, failure: GrpcFailure): void {
    this.options.onRefusal?.(refusal, path);
    fail(stream, failure);
  }

  run(stream: ServerHttp2Stream, call: Call): void {
    const request = call.finish();
    if (request instanceof GrpcFailure) {
      this.refuse(stream, call.path, 'malformed', request);
      return;
    }
    const { route, headers } = call;
    call.headers = NO_HEADERS;
    try {
      if (route.kind === 'unary') {
        const reply = route.handle(request, headers);
        if (reply instanceof GrpcFailure) fail(stream, reply);
        else answer(stream, this.#framed.framed(reply));
      } else {
        route.handle(request, serverStream(stream));
      }
    } catch (error) {
      this.options.onHandlerError?.(error, call.path);
      trailersOnly(stream, GRPC_STATUS.INTERNAL, 'the server failed to answer');
    }
  }
}

export function createGrpcTransport(options: GrpcTransportOptions): GrpcTransport {
  const { routes, maxRequestBytes, onRefusal } = options;
  const settings = { maxConcurrentStreams: options.maxConcurrentStreams };
  const server: Http2Server = options.tls
    ? http2.createSecureServer({
        cert: options.tls.cert,
        key: options.tls.key,
        ...(options.tls.clientCa === undefined
          ? {}
          : { ca: options.tls.clientCa, requestCert: true, rejectUnauthorized: true }),
        settings,
        noDelay: true,
      })
    : http2.createServer({ settings, noDelay: true } as http2.ServerOptions);
  const sessions = new Set<Http2Session>();

  server.on('session', (session) => {
    sessions.add(session);
    session.on('error', ignore);
    session.once('close', () => sessions.delete(session));
  });
  server.on('sessionError', ignore);
  // A TLS handshake that fails (no or a wrong client certificate) ends that connection only.
  server.on('tlsClientError', ignore);

  const dispatcher = new Dispatcher(options);
  const onStream = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void => {
    // A client's reset or a broken connection ends the stream with an error: that call only.
    stream.on('error', ignore);
    const path = headers[HTTP2_HEADER_PATH] as string;
    const route = routes.get(path);
    if (route === undefined) {
      onRefusal?.('unimplemented', path);
      trailersOnly(stream, GRPC_STATUS.UNIMPLEMENTED, `method ${path} is not served here`);
      return;
    }
    const refused = refusedByHeaders(headers);
    if (refused !== undefined) {
      onRefusal?.('malformed', path);
      fail(stream, refused);
      return;
    }
    (stream as CallStream)[CALL] = new Call(dispatcher, route, path, headers, maxRequestBytes);
    stream.on('data', onCallData);
    stream.on('end', onCallEnd);
  };
  server.on('stream', onStream);

  return {
    listen(address) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        const ready = (): void => {
          server.off('error', reject);
          server.on('error', ignore);
          const bound = server.address();
          resolve(typeof bound === 'object' && bound !== null ? (bound as AddressInfo).port : undefined);
        };
        if ('kind' in address) server.listen(address.path, ready);
        else server.listen(address.port, address.host, ready);
      });
    },
    close(graceMs, onForce) {
      return new Promise((resolve) => {
        const force = setTimeout(() => {
          onForce?.();
          for (const session of sessions) session.destroy();
        }, graceMs);
        force.unref();
        const closed = (): void => {
          clearTimeout(force);
          resolve();
        };
        if (!server.listening) {
          for (const session of sessions) session.close();
          if (sessions.size === 0) closed();
          else
            Promise.all([...sessions].map((s) => new Promise((r) => s.once('close', r)))).then(
              closed,
              closed,
            );
          return;
        }
        server.close(closed);
        // GOAWAY: no new streams; the session closes once its open streams are done.
        for (const session of sessions) session.close();
      });
    },
    destroy() {
      if (server.listening) server.close();
      for (const session of sessions) session.destroy();
    },
  };
}

function serverStream(stream: ServerHttp2Stream): ServerStream {
  let ended = false;
  const closeListeners: Array<() => void> = [];
  const finish = (): void => {
    ended = true;
    for (const listener of closeListeners.splice(0)) listener();
  };
  // The client cancelled, or the connection went: the call is over.
  stream.once('close', finish);
  return {
    write(message) {
      if (ended || stream.destroyed) return;
      if (!stream.headersSent) stream.respond(RESPONSE_HEADERS, ANSWER_OPTIONS);
      stream.write(frameMessage(message));
    },
    end(failure) {
      if (ended) return;
      if (!stream.destroyed) {
        if (!stream.headersSent && failure !== undefined) fail(stream, failure);
        else {
          if (!stream.headersSent) stream.respond(RESPONSE_HEADERS, ANSWER_OPTIONS);
          const trailers =
            failure === undefined
              ? OK_TRAILERS
              : { 'grpc-status': String(failure.code), 'grpc-message': percentEncode(failure.details) };
          stream.once('wantTrailers', () => stream.destroyed || stream.sendTrailers(trailers));
          stream.end();
        }
      }
      finish();
    },
    onClose(listener) {
      if (ended) listener();
      else closeListeners.push(listener);
    },
  };
}
