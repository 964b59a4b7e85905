/**
 * The gRPC listener: Envoy's Authorization/Check on its real method path plus grpc.health.v1,
 * over TCP or a Unix socket, optionally TLS with client-certificate verification. Messages pass
 * through grpc-js as raw bytes; codec.ts does all the protobuf work.
 */
import cluster from 'node:cluster';
import { lstatSync, readFileSync, unlinkSync } from 'node:fs';
import { format } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import type { CertificateReader } from '../decision/cache.js';
import type { Logger } from '../observability/log.js';
import type { CheckErrorCode } from '../observability/metrics.js';
import type { GrpcListenAddress } from '../settings/values.js';
import type { ServiceState } from './state.js';
import { type CheckObservers, createCheckHandler } from './check.js';
import { encodeCheckResponse } from './codec.js';
import { createHealthService, healthServiceDefinition } from './health.js';
import { rawMethod } from './raw-method.js';
import { countUnimplemented, oversizedCounter } from './refusals.js';
import { DENIED_BODY, DENIED_HTTP_STATUS, GRPC_PERMISSION_DENIED, METADATA } from './response.js';

export const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';
export const DESTINATION_TAGS_METADATA = 'x-mtp-destination-tags';

/** The default of `--grpc-max-concurrent-streams`: calls in flight per connection. */
export const DEFAULT_MAX_CONCURRENT_STREAMS = 256;

export const authorizationServiceDefinition = {
  Check: rawMethod(CHECK_PATH),
} satisfies grpc.ServiceDefinition;

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

function credentialsOf(tls: GrpcTlsFiles | undefined): grpc.ServerCredentials {
  if (tls === undefined) return grpc.ServerCredentials.createInsecure();
  const keyCertPair = { private_key: readFileSync(tls.key), cert_chain: readFileSync(tls.cert) };
  const clientCa = tls.clientCa === undefined ? null : readFileSync(tls.clientCa);
  return grpc.ServerCredentials.createSsl(clientCa, [keyCertPair], clientCa !== null);
}

/** A socket file left behind by a previous run would make the bind fail; anything else is kept. */
export function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // Nothing there: nothing to remove.
  }
}

function bind(server: grpc.Server, address: string, credentials: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (error, port) => (error ? reject(error) : resolve(port)));
  });
}

/** grpc-js writes its own text lines to stderr; send them through the JSON log instead. */
export function routeGrpcLogs(log: Logger): void {
  const to =
    (level: 'warn' | 'debug') =>
    (message?: unknown, ...rest: unknown[]): void =>
      log[level]({ component: 'grpc-js' }, format(message, ...rest));
  grpc.setLogger({ error: to('warn'), info: to('debug'), debug: to('debug') });
}

export async function startGrpcServer(state: ServiceState, options: GrpcServerOptions): Promise<GrpcService> {
  const { log } = options;
  const recordRefusal = (code: CheckErrorCode): void => options.observers?.metrics?.recordCheckError(code);
  const server = new grpc.Server({
    'grpc.max_receive_message_length': options.maxRequestBytes,
    'grpc.max_concurrent_streams': options.maxConcurrentStreams ?? DEFAULT_MAX_CONCURRENT_STREAMS,
    interceptors: [oversizedCounter(CHECK_PATH, recordRefusal)],
  });
  countUnimplemented(server, recordRefusal);
  const handler = createCheckHandler(state, options.readCertificate, options.observers);
  const health = createHealthService(state, options.maxHealthWatches);

  const check: grpc.handleUnaryCall<Buffer, Buffer> = (call, callback) => {
    const tags = call.metadata.get(DESTINATION_TAGS_METADATA)[0];
    try {
      const outcome = handler.check(call.request, typeof tags === 'string' ? tags : undefined);
      if (outcome.ok) callback(null, outcome.response);
      else {
        recordRefusal(outcome.code);
        const code = outcome.code === 'malformed' ? grpc.status.INVALID_ARGUMENT : grpc.status.UNAVAILABLE;
        callback({ code, details: outcome.message });
      }
    } catch (error) {
      log.error({ err: error }, 'check failed; answering a denial');
      callback(null, INTERNAL_ERROR_DENIAL);
    }
  };

  server.addService(authorizationServiceDefinition, { Check: check });
  server.addService(healthServiceDefinition, health.implementation);

  const { address } = options;
  const credentials = credentialsOf(options.tls);
  let target: string;
  let port: number | undefined;
  if (address.kind === 'unix') {
    // Under --workers the primary owns the socket (and cleaned it up before forking): a worker
    // removing it would unlink the file its siblings already listen on.
    if (!cluster.isWorker) removeStaleSocket(address.path);
    await bind(server, `unix://${address.path}`, credentials);
    target = `unix://${address.path}`;
  } else {
    const host = address.host.includes(':') ? `[${address.host}]` : address.host;
    port = await bind(server, `${host}:${address.port}`, credentials);
    target = `${host}:${port}`;
  }

  return {
    target,
    port,
    shutdown(graceMs) {
      health.endWatches();
      return new Promise((resolve) => {
        const force = setTimeout(() => {
          log.warn({ graceMs }, 'shutdown grace elapsed; closing the remaining calls');
          server.forceShutdown();
        }, graceMs);
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    },
    forceClose() {
      health.endWatches();
      server.forceShutdown();
    },
  };
}
