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
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, Registry } from 'prom-client';
import { removeStaleSocket } from './authz/server.js';
import { type HttpService, startHttpServer } from './http/server.js';
import type { Logger } from './observability/log.js';
import {
  adminRoutesOf,
  callGrace,
  createReloader,
  EXIT_INVALID_POLICIES,
  exitAfterFlush,
  exitDeadline,
  httpLimitsOf,
  identityLimits,
  loadInitialState,
  logAdminWriters,
  logDroppedHttp,
  observability,
  openAdminStore,
  openRevocationList,
  openSigningKey,
  StartError,
  startChecks,
} from './main.js';
import { createMetrics, METRIC_NAMES } from './observability/metrics.js';
import type { ReloadOutcome } from './policy/reload.js';
import type { Settings } from './settings/settings.js';

/** One registry's metrics as `getMetricsAsJSON` gives them (what AggregatorRegistry.aggregate takes). */
type MetricJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>[number];

type ToWorker =
  | { readonly mtpAuthz: 'reload'; readonly id: number; readonly reason: string }
  | { readonly mtpAuthz: 'metrics'; readonly id: number };

type FromWorker =
  | { readonly mtpAuthz: 'ready' }
  | { readonly mtpAuthz: 'reloaded'; readonly id: number; readonly ok: boolean }
  | { readonly mtpAuthz: 'metrics'; readonly id: number; readonly metrics: MetricJson[] };

/** This worker's slot (0 … N-1), set by the primary when it forks; a restarted worker keeps it. */
const WORKER_INDEX = Number(process.env.MTP_AUTHZ_WORKER_INDEX ?? '0');

const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 10_000;
const HEALTHY_AFTER_MS = 30_000;
const ANSWER_TIMEOUT_MS = 10_000;

function isMessage(value: unknown): value is { mtpAuthz: string; id?: number } {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { mtpAuthz?: unknown }).mtpAuthz === 'string'
  );
}

// ---------------------------------------------------------------------------------------------
// Worker

/** A worker: the Check half of `serve` (no HTTP port), answering the primary's requests. */
export async function serveWorker(settings: Settings, log: Logger): Promise<void> {
  let service;
  try {
    service = await startChecks(settings, { log });
  } catch (error) {
    if (!(error instanceof StartError)) throw error;
    log.error(error.message);
    return exitAfterFlush(log, error.exitCode);
  }
  const { state, registry, reloader, grpc, decisionLog } = service;
  const send = (message: FromWorker): void => {
    if (process.connected) process.send?.(message);
  };

  const onMessage = (message: unknown): void => {
    if (!isMessage(message)) return;
    const request = message as ToWorker;
    if (request.mtpAuthz === 'reload') {
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
  process.on('message', onMessage);
  process.on('SIGHUP', onHangup);
  send({ mtpAuthz: 'ready' });

  const deadline = await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (why: string): void => {
      // A terminal's Ctrl-C reaches the workers and the primary, which then sends SIGTERM too.
      if (stopping) return;
      stopping = true;
      const deadline = exitDeadline(settings.shutdownGraceMs);
      log.info({ why }, 'worker draining');
      reloader.stop();
      state.drain();
      void (async () => {
        await grpc.shutdown(callGrace(settings.shutdownGraceMs));
        await decisionLog.close();
        log.info({ worker: WORKER_INDEX, checks: await checksAnswered(registry) }, 'worker stopped');
        process.off('message', onMessage);
        process.off('SIGHUP', onHangup);
        resolve(deadline);
      })();
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    // The primary is gone: nobody forwards connections any more.
    process.on('disconnect', () => stop('primary disconnected'));
  });
  return exitAfterFlush(log, 0, deadline);
}

async function checksAnswered(registry: Registry): Promise<number> {
  const metric = registry.getSingleMetric(METRIC_NAMES.checks);
  if (metric === undefined) return 0;
  const { values } = await metric.get();
  return values.reduce((sum, v) => sum + v.value, 0);
}

// ---------------------------------------------------------------------------------------------
// Primary

interface Slot {
  readonly index: number;
  worker: Worker | undefined;
  ready: boolean;
  startedAt: number;
  failures: number;
  restart: NodeJS.Timeout | undefined;
}

/** The primary's view of its workers: fork, restart with back-off, ask all, stop all. */
class WorkerPool {
  readonly #slots: Slot[];
  readonly #log: Logger;
  readonly #waiting = new Map<number, { pending: Set<number>; answers: unknown[]; done: () => void }>();
  #nextId = 1;
  #stopping = false;
  #started = false;
  #failStart: ((error: Error) => void) | undefined;
  #whenAllReady: (() => void) | undefined;

  constructor(count: number, log: Logger) {
    this.#log = log;
    this.#slots = Array.from({ length: count }, (_, index) => ({
      index,
      worker: undefined,
      ready: false,
      startedAt: 0,
      failures: 0,
      restart: undefined,
    }));
  }

  /** Forks every worker; resolves once all are ready, rejects if one exits first. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#whenAllReady = resolve;
      this.#failStart = reject;
      for (const slot of this.#slots) this.#fork(slot);
    });
  }

  get allReady(): boolean {
    return this.#slots.every((slot) => slot.ready);
  }

  /** Asks every live worker; resolves with their answers (a worker that does not answer is left out). */
  ask(request: (id: number) => ToWorker): Promise<unknown[]> {
    const id = this.#nextId++;
    const live = this.#slots.filter((slot) => slot.ready && slot.worker?.isConnected() === true);
    if (live.length === 0) return Promise.resolve([]);
    return new Promise((resolve) => {
      const entry = {
        pending: new Set(live.map((slot) => slot.index)),
        answers: [] as unknown[],
        done: () => {
          clearTimeout(timer);
          this.#waiting.delete(id);
          resolve(entry.answers);
        },
      };
      const timer = setTimeout(() => {
        this.#log.warn({ id, missing: [...entry.pending] }, 'workers did not answer in time');
        entry.done();
      }, ANSWER_TIMEOUT_MS);
      this.#waiting.set(id, entry);
      for (const slot of live) slot.worker?.send(request(id));
    });
  }

  /** SIGTERM to every worker; resolves once all have exited (SIGKILL once the grace is over). */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    const exits: Promise<void>[] = [];
    for (const slot of this.#slots) {
      clearTimeout(slot.restart);
      slot.ready = false;
      const worker = slot.worker;
      if (worker === undefined || worker.isDead()) continue;
      exits.push(
        new Promise((resolve) => {
          const kill = setTimeout(() => worker.process.kill('SIGKILL'), graceMs);
          worker.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
        }),
      );
      worker.process.kill('SIGTERM');
    }
    await Promise.all(exits);
  }

  #fork(slot: Slot): void {
    const worker = cluster.fork({ MTP_AUTHZ_WORKER_INDEX: String(slot.index) });
    slot.worker = worker;
    slot.ready = false;
    slot.startedAt = Date.now();
    worker.on('message', (message: unknown) => this.#onMessage(slot, message));
    worker.once('exit', (code, signal) => this.#onExit(slot, worker, code, signal));
  }

  #onMessage(slot: Slot, message: unknown): void {
    if (!isMessage(message)) return;
    const answer = message as FromWorker;
    if (answer.mtpAuthz === 'ready') {
      slot.ready = true;
      this.#log.info({ worker: slot.index, workerPid: slot.worker?.process.pid }, 'worker ready');
      if (!this.#started && this.allReady) {
        this.#started = true;
        this.#whenAllReady?.();
      }
      return;
    }
    const waiting = this.#waiting.get(answer.id);
    if (waiting === undefined || !waiting.pending.delete(slot.index)) return;
    waiting.answers.push(answer);
    if (waiting.pending.size === 0) waiting.done();
  }

  #onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    slot.ready = false;
    slot.worker = undefined;
    for (const [, waiting] of this.#waiting) {
      if (waiting.pending.delete(slot.index) && waiting.pending.size === 0) waiting.done();
    }
    if (this.#stopping) return;
    if (!this.#started) {
      this.#failStart?.(
        new StartError(code ?? 1, `worker ${slot.index} exited during start-up (${code ?? signal})`),
      );
      return;
    }
    const lived = Date.now() - slot.startedAt;
    slot.failures = lived >= HEALTHY_AFTER_MS ? 0 : slot.failures + 1;
    const delay = Math.min(BACKOFF_FIRST_MS * 2 ** Math.max(0, slot.failures - 1), BACKOFF_MAX_MS);
    this.#log.error(
      { worker: slot.index, workerPid: worker.process.pid, code, signal, restartInMs: delay },
      'worker died',
    );
    slot.restart = setTimeout(() => {
      slot.restart = undefined;
      if (!this.#stopping) this.#fork(slot);
    }, delay);
  }
}

/** The primary: HTTP port, policy copy for /policies, /explain and admin, and the workers. */
export async function servePrimary(settings: Settings, log: Logger): Promise<void> {
  const report = (line: string): void => void process.stderr.write(`${line}\n`);
  let pool: WorkerPool | undefined;
  let http: HttpService;
  let stopPrimary: () => Promise<void>;
  let reloadAll: (reason: string) => Promise<ReloadOutcome>;
  let reloadRevocations: (() => Promise<void>) | undefined;
  try {
    const signingKey = await openSigningKey(settings);
    const revocations = await openRevocationList(settings, log);
    reloadRevocations = revocations === undefined ? undefined : () => revocations.reload();
    const store = await openAdminStore(settings);
    const { state } = await loadInitialState(settings, log, report);
    const reloader = createReloader(settings, state, log);
    await reloader.start();
    if (settings.grpcAddress.kind === 'unix') removeStaleSocket(settings.grpcAddress.path);

    const workers = new WorkerPool(settings.workers, log);
    pool = workers;
    log.info({ workers: settings.workers }, 'starting workers');
    await workers.start();

    reloadAll = async (reason) => {
      const outcome = await reloader.reload(reason);
      if (!outcome.ok && outcome.stopped === true) return outcome;
      const answers = (await workers.ask((id) => ({ mtpAuthz: 'reload', id, reason }))) as {
        ok: boolean;
      }[];
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
        return AggregatorRegistry.aggregate(parts).metrics();
      },
    };
    const everyReloader = { reload: reloadAll, stale: false };
    Object.defineProperty(everyReloader, 'stale', { get: () => reloader.stale });

    const httpLimits = httpLimitsOf(settings, log);
    http = await startHttpServer(
      state,
      settings.httpAddress,
      [
        ...observability(state, everyReloader, aggregated, identityLimits(settings)),
        ...adminRoutesOf(settings, {
          state,
          reloader: everyReloader,
          store,
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
      log.info('stopped');
    };
  } catch (error) {
    await pool?.stop(0);
    if (!(error instanceof StartError)) throw error;
    log.error(error.message);
    return exitAfterFlush(log, error.exitCode === 0 ? EXIT_INVALID_POLICIES : error.exitCode);
  }

  const onHangup = (): void => {
    log.info('SIGHUP: reloading policies in every worker');
    void reloadAll('SIGHUP');
    void reloadRevocations?.();
  };
  process.on('SIGHUP', onHangup);
  const deadline = await new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (++signals > 1) {
        log.warn({ signal }, 'second signal; stopping the workers now');
        void pool?.stop(0);
        return;
      }
      const deadline = exitDeadline(settings.shutdownGraceMs);
      log.info({ signal }, 'shutting down');
      void stopPrimary().then(() => {
        process.off('SIGHUP', onHangup);
        resolve(deadline);
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  return exitAfterFlush(log, 0, deadline);
}
