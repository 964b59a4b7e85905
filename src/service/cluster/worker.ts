/** A worker of `--workers N`: the Check half of `serve`, answering the primary's requests. */
import { Registry } from 'prom-client';
import type { Logger } from '../../observability/log.js';
import { METRIC_NAMES } from '../../observability/metrics.js';
import type { Settings } from '../../settings/settings.js';
import { startChecks } from '../checks.js';
import { callGrace, exitAfterFlush, exitDeadline, type ProcessPort, startOrExit } from '../signals.js';
import { type FromWorker, isMessage, type ToWorker } from './messages.js';
import { PushedStore } from './pushed-store.js';

/** This worker's slot (0 … N-1), set by the primary when it forks; a restarted worker keeps it. */
const WORKER_INDEX = Number(process.env.MTP_AUTHZ_WORKER_INDEX ?? '0');

/** A worker: the Check half of `serve` (no HTTP port), answering the primary's requests. */
export async function serveWorker(settings: Settings, log: Logger, port: ProcessPort): Promise<void> {
  // With --store the primary owns the store: its texts come from there before the first load.
  let pushed: PushedStore | undefined;
  const { state, registry, reloader, grpc, decisionLog } = await startOrExit(port, log, async () => {
    pushed = settings.store === undefined ? undefined : await PushedStore.receive(port);
    return startChecks(settings, { log, ...(pushed === undefined ? {} : { storeSource: pushed }) });
  });
  const send = (message: FromWorker): void => {
    if (port.connected) port.send?.(message);
  };

  const onMessage = (message: unknown): void => {
    if (!isMessage(message)) return;
    const request = message as ToWorker;
    if (request.mtpAuthz === 'reload') {
      if (request.store !== undefined) pushed?.update(request.store);
      void reloader
        .reload(request.reason)
        .then((outcome) => send({ mtpAuthz: 'reloaded', id: request.id, ok: outcome.ok }));
    } else if (request.mtpAuthz === 'metrics') {
      void registry
        .getMetricsAsJSON()
        .then((metrics) => send({ mtpAuthz: 'metrics', id: request.id, metrics }));
    }
  };
  const onHangup = (): void => void reloader.reload('SIGHUP');
  port.on('message', onMessage);
  port.on('SIGHUP', onHangup);
  send({ mtpAuthz: 'ready' });

  const deadline = await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (why: string): void => {
      // A terminal's Ctrl-C reaches the workers and the primary, which then sends SIGTERM too.
      if (stopping) return;
      stopping = true;
      const deadline = exitDeadline(port, settings.shutdownGraceMs);
      log.info({ why }, 'worker draining');
      reloader.stop();
      state.drain();
      void (async () => {
        await grpc.shutdown(callGrace(settings.shutdownGraceMs));
        await decisionLog.close();
        log.info({ worker: WORKER_INDEX, checks: await checksAnswered(registry) }, 'worker stopped');
        port.off('message', onMessage);
        port.off('SIGHUP', onHangup);
        resolve(deadline);
      })();
    };
    port.on('SIGTERM', () => stop('SIGTERM'));
    port.on('SIGINT', () => stop('SIGINT'));
    // The primary is gone: nobody forwards connections any more.
    port.on('disconnect', () => stop('primary disconnected'));
  });
  return exitAfterFlush(port, log, 0, deadline);
}

async function checksAnswered(registry: Registry): Promise<number> {
  const metric = registry.getSingleMetric(METRIC_NAMES.checks);
  if (metric === undefined) return 0;
  const { values } = await metric.get();
  return values.reduce((sum, v) => sum + v.value, 0);
}
