/**
 * One process serving everything: the assembled parts, the gRPC listener for Check calls and the
 * HTTP port, and the drain that stops them.
 */
import { Registry } from 'prom-client';
import { RevocationList } from '../admin/revocations.js';
import { type GrpcService } from '../authz/server.js';
import { type HttpService, startHttpServer } from '../http/server.js';
import { Reloader } from '../policy/reload.js';
import type { Settings } from '../settings/settings.js';
import { ServiceState } from '../authz/state.js';
import { createLoader, identityLimits, type StartOptions } from './assemble.js';
import { startChecks } from './checks.js';
import { openAdminStore, openRevocationList, openSigningKey, StartError } from './open.js';
import {
  adminRoutesOf,
  consoleRoutesOf,
  httpLimitsOf,
  logAdminWriters,
  logDroppedHttp,
  observability,
} from './routes.js';
import { callGrace } from './signals.js';
import { openPolicyStore, servingStatus } from './policy-store.js';

export interface RunningService {
  readonly state: ServiceState;
  readonly registry: Registry;
  readonly reloader: Reloader;
  readonly grpc: GrpcService;
  readonly http: HttpService;
  readonly revocations: RevocationList | undefined;
  /** Drain: health NOT_SERVING, stop accepting, finish in-flight calls (cut after the grace). */
  stop(): Promise<void>;
}

/** Loads the policies and opens both listeners; throws StartError when it cannot. */
export async function start(settings: Settings, options: StartOptions): Promise<RunningService> {
  const { log } = options;
  const signingKey = await openSigningKey(settings);
  const revocations = await openRevocationList(settings, log);
  const stateDir = await openAdminStore(settings);
  const loader = createLoader(settings);
  const registry = new Registry();
  const linked = await openPolicyStore(settings, { log, loader, registry }).catch((error: unknown) => {
    loader.close();
    throw error;
  });
  const { state, metrics, reloader, grpc, decisionLog, consoleRecords } = await startChecks(settings, {
    ...options,
    loader,
    registry,
    ...(linked === undefined ? {} : { storeSource: linked.store }),
  });
  const status = servingStatus(reloader, linked?.store);
  linked?.bind({
    reload: (reason) => reloader.reload(reason),
    onStatus: () => metrics.setStale(status.stale),
  });
  const store = stateDir ?? linked?.store;

  let http: HttpService;
  try {
    const limits = httpLimitsOf(settings, log);
    const adminRoutes = adminRoutesOf(settings, {
      state,
      reloader,
      store,
      signingKey,
      revocations,
      metrics,
      log,
    });
    http = await startHttpServer(
      state,
      settings.httpAddress,
      [
        ...observability(state, status, registry, identityLimits(settings)),
        ...consoleRoutesOf(settings, state, status, registry, consoleRecords),
        ...adminRoutes,
      ],
      (error) => log.error({ err: error }, 'HTTP request failed'),
      undefined,
      limits,
      logDroppedHttp(log, limits),
    );
  } catch (error) {
    grpc.forceClose();
    reloader.stop();
    void linked?.store.close(0);
    throw new StartError(1, `cannot start the HTTP listener: ${(error as Error).message}`);
  }
  log.info(
    {
      listener: 'http',
      address: `${settings.httpAddress.host}:${http.port}`,
      port: http.port,
      maxConnections: http.maxConnections,
    },
    'listening',
  );
  logAdminWriters(settings, state, log);

  let stopping: Promise<void> | undefined;
  return {
    state,
    registry,
    reloader,
    grpc,
    http,
    revocations,
    stop() {
      stopping ??= (async () => {
        const deadline = performance.now() + settings.shutdownGraceMs;
        // First: no reload may start a loader thread again, and queued admin writes answer 503.
        reloader.stop();
        revocations?.close();
        state.drain();
        log.info({ graceMs: settings.shutdownGraceMs }, 'draining');
        await grpc.shutdown(callGrace(settings.shutdownGraceMs));
        await http.close(callGrace(deadline - performance.now()));
        await linked?.store.close(Math.max(0, deadline - performance.now()));
        await decisionLog.close();
        log.info('stopped');
      })();
      return stopping;
    },
  };
}
