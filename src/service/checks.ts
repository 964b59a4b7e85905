/**
 * The Check half of a process: the assembled parts with their reloader watching and the gRPC
 * listener open (one process, or each worker of `--workers`).
 */
import { Registry } from 'prom-client';
import { type GrpcService, startGrpcServer } from '../authz/server.js';
import { type DecisionLog } from '../observability/decision-log.js';
import { type Metrics } from '../observability/metrics.js';
import { Reloader } from '../policy/reload.js';
import type { Settings } from '../settings/settings.js';
import { ServiceState } from '../authz/state.js';
import { assemble, type ConsoleRecords, type StartOptions } from './assemble.js';
import { StartError } from './open.js';

/** What answers Check calls: policies, caches, metrics, the reloader and the gRPC listener. */
export interface CheckService {
  readonly state: ServiceState;
  readonly registry: Registry;
  readonly metrics: Metrics;
  readonly reloader: Reloader;
  readonly grpc: GrpcService;
  readonly decisionLog: DecisionLog;
  readonly consoleRecords: ConsoleRecords;
}

/** Loads the policies and opens the gRPC listener; throws StartError when it cannot. */
export async function startChecks(settings: Settings, options: StartOptions): Promise<CheckService> {
  const { log } = options;
  const { state, registry, metrics, decisions, identities, reloader, decisionLog, consoleRecords } =
    await assemble(settings, options);
  // Watch before listening: a change made right after start-up must not be missed.
  await reloader.start();

  const tls =
    settings.grpcTlsCert !== undefined && settings.grpcTlsKey !== undefined
      ? { cert: settings.grpcTlsCert, key: settings.grpcTlsKey, clientCa: settings.grpcTlsClientCa }
      : undefined;
  let grpc: GrpcService;
  try {
    grpc = await startGrpcServer(state, {
      address: settings.grpcAddress,
      ...(tls === undefined
        ? {}
        : { tls: tls.clientCa === undefined ? { cert: tls.cert, key: tls.key } : tls }),
      maxRequestBytes: settings.maxRequestBytes,
      maxConcurrentStreams: settings.grpcMaxConcurrentStreams,
      maxHealthWatches: settings.maxHealthWatches,
      readCertificate: identities.read,
      observers: { decisions, metrics, decisionLog, shadowRecord: consoleRecords.shadows },
      log,
    });
  } catch (error) {
    reloader.stop();
    throw new StartError(1, `cannot start the gRPC listener: ${(error as Error).message}`);
  }
  log.info({ listener: 'grpc', address: grpc.target, port: grpc.port, tls: tls !== undefined }, 'listening');
  return { state, registry, metrics, reloader, grpc, decisionLog, consoleRecords };
}
