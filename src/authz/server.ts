/**
 * The gRPC listener: Envoy's Authorization/Check on its real method path plus grpc.health.v1,
 * over TCP or a Unix socket, optionally TLS with client-certificate verification. The transport
 * (src/grpc/) hands message bytes over; codec.ts does all the protobuf work.
 */
import cluster from 'node:cluster';
import { lstatSync, readFileSync, unlinkSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http2';
import { createGrpcTransport, type Route } from '../grpc/server.js';
import { GRPC_STATUS, GrpcFailure } from '../grpc/status.js';
import type { CertificateReader } from '../decision/cache.js';
import type { Logger } from '../observability/log.js';
import type { CheckErrorCode } from '../observability/metrics.js';
import type { GrpcListenAddress } from '../settings/values.js';
import type { ServiceState } from './state.js';
import { type CheckObservers, createCheckHandler } from './check.js';
import { encodeCheckResponse } from './codec.js';
import { createHealthService, HEALTH_CHECK_PATH, HEALTH_WATCH_PATH } from './health.js';
import { DENIED_BODY, DENIED_HTTP_STATUS, GRPC_PERMISSION_DENIED, METADATA } from './response.js';

export const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';
export const DESTINATION_TAGS_METADATA = 'x-mtp-destination-tags';

/** The default of `--grpc-max-concurrent-streams`: calls in flight per connection. */
export const DEFAULT_MAX_CONCURRENT_STREAMS = 256;

/** Answered when the handler itself fails: a denial, so that Envoy never fails open on our bug. */
const INTERNAL_ERROR_DENIAL = encodeCheckResponse({
  code: GRPC_PERMISSION_DENIED,
  denied: { httpStatus: DENIED_HTTP_STATUS, body: DENIED_BODY },
  metadata: [[METADATA.enforcedResult, 'denied']],
});

export interface GrpcTlsFiles {
  readonly cert: string;
  readonly key: string;
  /** When set, only clients with a certificate issued by this CA may connect. */
  readonly clientCa?: string;
}

export interface GrpcServerOptions {
  readonly address: GrpcListenAddress;
  readonly tls?: GrpcTlsFiles;
  readonly maxRequestBytes: number;
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS of every connection. */
  readonly maxConcurrentStreams?: number;
  /** Health Watch streams open at once; more are refused (RESOURCE_EXHAUSTED). */
  readonly maxHealthWatches?: number;
  readonly readCertificate: CertificateReader;
  /** Caches, metrics and the decision log the handler reports to. */
  readonly observers?: CheckObservers;
  readonly log: Logger;
}

export interface GrpcService {
  /** What clients dial: `host:port` with the bound port, or `unix:///path`. */
  readonly target: string;
  /** The bound TCP port (undefined for a Unix socket). */
  readonly port: number | undefined;
  /**
   * Stops accepting connections, ends health watches, lets in-flight calls finish and closes,
   * forcing the remaining calls closed after `graceMs`. Resolves once the server is closed.
   */
  shutdown(graceMs: number): Promise<void>;
  /** Closes every connection now, cutting calls in flight. */
  forceClose(): void;
}

/** A socket file left behind by a previous run would make the bind fail; anything else is kept. */
export function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // Nothing there: nothing to remove.
  }
}

function tlsOf(tls: GrpcTlsFiles | undefined) {
  if (tls === undefined) return undefined;
  const files = { cert: readFileSync(tls.cert), key: readFileSync(tls.key) };
  return tls.clientCa === undefined ? files : { ...files, clientCa: readFileSync(tls.clientCa) };
}

export async function startGrpcServer(state: ServiceState, options: GrpcServerOptions): Promise<GrpcService> {
  const { log } = options;
  const recordRefusal = (code: CheckErrorCode): void => options.observers?.metrics?.recordCheckError(code);
  const handler = createCheckHandler(state, options.readCertificate, options.observers);
  const health = createHealthService(state, options.maxHealthWatches);

  const check = (request: Buffer, headers: IncomingHttpHeaders): Buffer | GrpcFailure => {
    const tags = headers[DESTINATION_TAGS_METADATA];
    try {
      const outcome = handler.check(request, typeof tags === 'string' ? tags : undefined);
      if (outcome.ok) return outcome.response;
      recordRefusal(outcome.code);
      const code = outcome.code === 'malformed' ? GRPC_STATUS.INVALID_ARGUMENT : GRPC_STATUS.UNAVAILABLE;
      return new GrpcFailure(code, outcome.message);
    } catch (error) {
      log.error({ err: error }, 'check failed; answering a denial');
      return INTERNAL_ERROR_DENIAL;
    }
  };

  const routes = new Map<string, Route>([
    [CHECK_PATH, { kind: 'unary', handle: check }],
    [HEALTH_CHECK_PATH, { kind: 'unary', handle: health.check }],
    [HEALTH_WATCH_PATH, { kind: 'stream', handle: health.watch }],
  ]);
  const transport = createGrpcTransport({
    routes,
    maxRequestBytes: options.maxRequestBytes,
    maxConcurrentStreams: options.maxConcurrentStreams ?? DEFAULT_MAX_CONCURRENT_STREAMS,
    ...(options.tls === undefined ? {} : { tls: tlsOf(options.tls) }),
    // Any method nobody serves counts (an Envoy configured for another API version, say); a
    // request refused before decoding counts only on Check.
    onRefusal(refusal, path) {
      if (refusal === 'unimplemented' || path === CHECK_PATH) recordRefusal(refusal);
    },
    onHandlerError(error, path) {
      log.error({ err: error, path }, 'gRPC handler failed');
    },
  });

  const { address } = options;
  let target: string;
  let port: number | undefined;
  if (address.kind === 'unix') {
    // Under --workers the primary owns the socket (and cleaned it up before forking): a worker
    // removing it would unlink the file its siblings already listen on.
    if (!cluster.isWorker) removeStaleSocket(address.path);
    await transport.listen({ kind: 'unix', path: address.path });
    target = `unix://${address.path}`;
  } else {
    port = await transport.listen({ host: address.host, port: address.port });
    const host = address.host.includes(':') ? `[${address.host}]` : address.host;
    target = `${host}:${port}`;
  }

  return {
    target,
    port,
    shutdown(graceMs) {
      health.endWatches();
      return transport.close(graceMs, () =>
        log.warn({ graceMs }, 'shutdown grace elapsed; closing the remaining calls'),
      );
    },
    forceClose() {
      health.endWatches();
      transport.destroy();
    },
  };
}
