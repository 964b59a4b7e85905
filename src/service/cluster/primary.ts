/**
 * `--workers N` above 1: a node:cluster primary and N worker processes sharing the gRPC listener
 * (the primary hands each new connection to the next worker, round-robin).
 *
 * - Every worker loads, watches and reloads the policy files itself, exactly as a single process
 *   does, so a file change reaches each of them without the primary's help. SIGHUP to the primary
 *   and every admin write reload the primary's copy and then every worker, and an admin write is
 *   answered only after every worker serves it (read-your-writes holds on every connection).
 * - The primary serves no Check: it owns the HTTP port. `/metrics` sums the workers' registries
 *   (counters and histograms add up; generation, staleness and timestamps take the largest);
 *   `/readyz` is 200 only while every worker is up and ready; `/policies`, `/explain` and the admin
 *   API answer from the primary's own copy of the policies (same files, same reloads).
 * - A worker that dies is forked again after a back-off (100 ms doubling to 10 s; reset once a
 *   worker has lived 30 s). SIGTERM/SIGINT to the primary drains every worker, then exits 0.
 */
import { AggregatorRegistry, Registry } from 'prom-client';
import { removeStaleSocket } from '../../authz/server.js';
import { type HttpService, startHttpServer } from '../../http/server.js';
import type { Logger } from '../../observability/log.js';
import { createMetrics, METRIC_NAMES } from '../../observability/metrics.js';
import type { ReloadOutcome } from '../../policy/reload.js';
import type { Settings } from '../../settings/settings.js';
import { createLoader, createReloader, identityLimits, loadInitialState } from '../assemble.js';
import {
  EXIT_INVALID_POLICIES,
  openAdminStore,
  openRevocationList,
  openSigningKey,
  StartError,
} from '../open.js';
import { type LinkedStore, openPolicyStore, servingStatus } from '../policy-store.js';
import { adminRoutesOf, httpLimitsOf, logAdminWriters, logDroppedHttp, observability } from '../routes.js';
import { callGrace, drainOnSignals, exitAfterFlush, exitDeadline, type ProcessPort } from '../signals.js';
import { type MetricJson } from './messages.js';
import { WorkerPool } from './pool.js';

/** The primary: HTTP port, policy copy for /policies, /explain and admin, and the workers. */
export async function servePrimary(settings: Settings, log: Logger, port: ProcessPort): Promise<void> {
  const report = (line: string): void => void process.stderr.write(`${line}\n`);
  let pool: WorkerPool | undefined;
  let http: HttpService;
  let stopPrimary: () => Promise<void>;
  let reloadAll: (reason: string) => Promise<ReloadOutcome>;
  let reloadRevocations: (() => Promise<void>) | undefined;
  let linked: LinkedStore | undefined;
  try {
    const signingKey = await openSigningKey(settings);
    const revocations = await openRevocationList(settings, log);
    reloadRevocations = revocations === undefined ? undefined : () => revocations.reload();
    const stateDir = await openAdminStore(settings);
    const loader = createLoader(settings);
    // The primary owns the shared store: the workers get its texts from here.
    const storeRegistry = new Registry();
    linked = await openPolicyStore(settings, { log, loader, registry: storeRegistry });
    const shared = linked?.store;
    const { state } = await loadInitialState(settings, loader, log, report, shared);
    const reloader = createReloader(settings, loader, state, log, undefined, undefined, shared);
    await reloader.start();
    if (settings.grpcAddress.kind === 'unix') removeStaleSocket(settings.grpcAddress.path);

    const workers = new WorkerPool(
      settings.workers,
      log,
      shared === undefined ? undefined : () => ({ mtpAuthz: 'store', store: shared.mirror.snapshot() }),
    );
    pool = workers;
    log.info({ workers: settings.workers }, 'starting workers');
    await workers.start();

    reloadAll = async (reason) => {
      const outcome = await reloader.reload(reason);
      if (!outcome.ok && outcome.stopped === true) return outcome;
      const store = shared?.mirror.snapshot();
      const answers = (await workers.ask((id) => ({
        mtpAuthz: 'reload',
        id,
        reason,
        ...(store === undefined ? {} : { store }),
      }))) as { ok: boolean }[];
      if (answers.some((a) => !a.ok)) log.error({ reason }, 'a worker failed to reload');
      return outcome;
    };

    // Only the admin request counter is the primary's own; everything else comes from the workers.
    const own = createMetrics(new Registry(), { defaultMetrics: false });
    const aggregated = {
      contentType: own.registry.contentType,
      metrics: async (): Promise<string> => {
        const answers = (await workers.ask((id) => ({ mtpAuthz: 'metrics', id }))) as {
          metrics: MetricJson[];
        }[];
        const admin = await own.registry.getSingleMetric(METRIC_NAMES.adminRequests)?.get();
        const parts = answers.map((a) => a.metrics);
        if (admin !== undefined) parts.push([admin as unknown as MetricJson]);
        if (shared !== undefined) {
          // The store is the primary's: its metrics, and its staleness (the largest value wins).
          own.setStale(status.stale);
          const stale = await own.registry.getSingleMetric(METRIC_NAMES.stale)?.get();
          parts.push(await storeRegistry.getMetricsAsJSON());
          if (stale !== undefined) parts.push([stale as unknown as MetricJson]);
        }
        return AggregatorRegistry.aggregate(parts).metrics();
      },
    };
    const status = servingStatus(reloader, shared);
    const everyReloader = {
      reload: reloadAll,
      get stale() {
        return status.stale;
      },
      get storeVersion() {
        return status.storeVersion;
      },
    };
    linked?.bind({ reload: reloadAll, onStatus: () => undefined });

    const httpLimits = httpLimitsOf(settings, log);
    http = await startHttpServer(
      state,
      settings.httpAddress,
      [
        ...observability(state, everyReloader, aggregated, identityLimits(settings)),
        ...adminRoutesOf(settings, {
          state,
          reloader: everyReloader,
          store: stateDir ?? shared,
          signingKey,
          revocations,
          metrics: own,
          log,
        }),
      ],
      (error) => log.error({ err: error }, 'HTTP request failed'),
      () => state.ready && workers.allReady,
      httpLimits,
      logDroppedHttp(log, httpLimits),
    ).catch((error: unknown) => {
      throw new StartError(1, `cannot start the HTTP listener: ${(error as Error).message}`);
    });
    log.info(
      { listener: 'http', address: `${settings.httpAddress.host}:${http.port}`, port: http.port },
      'listening',
    );
    logAdminWriters(settings, state, log);
    stopPrimary = async () => {
      reloader.stop();
      revocations?.close();
      state.drain();
      log.info({ graceMs: settings.shutdownGraceMs }, 'draining');
      const deadline = performance.now() + settings.shutdownGraceMs;
      await workers.stop(callGrace(settings.shutdownGraceMs));
      await http.close(callGrace(deadline - performance.now()));
      await shared?.close(Math.max(0, deadline - performance.now()));
      log.info('stopped');
    };
  } catch (error) {
    await pool?.stop(0);
    void linked?.store.close(0);
    if (!(error instanceof StartError)) throw error;
    log.error(error.message);
    return exitAfterFlush(port, log, error.exitCode === 0 ? EXIT_INVALID_POLICIES : error.exitCode);
  }

  const onHangup = (): void => {
    log.info('SIGHUP: reloading policies in every worker');
    void reloadAll('SIGHUP');
    void reloadRevocations?.();
  };
  port.on('SIGHUP', onHangup);
  let deadline = 0;
  await drainOnSignals(port, {
    drain: (signal) => {
      deadline = exitDeadline(port, settings.shutdownGraceMs);
      log.info({ signal }, 'shutting down');
      return stopPrimary().then(() => void port.off('SIGHUP', onHangup));
    },
    force: (signal) => {
      log.warn({ signal }, 'second signal; stopping the workers now');
      void pool?.stop(0);
    },
    release: false,
  });
  return exitAfterFlush(port, log, 0, deadline);
}
