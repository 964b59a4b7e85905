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
import type { Logger } from '../../observability/log.js';
import { StartError } from '../open.js';
import { ANSWER_TIMEOUT_MS, type FromWorker, isMessage, type ToWorker } from './messages.js';

export const BACKOFF_FIRST_MS = 100;
export const BACKOFF_MAX_MS = 10_000;
export const HEALTHY_AFTER_MS = 30_000;

interface Slot {
  readonly index: number;
  worker: Worker | undefined;
  ready: boolean;
  startedAt: number;
  failures: number;
  restart: NodeJS.Timeout | undefined;
}

/** The primary's view of its workers: fork, restart with back-off, ask all, stop all. */
export class WorkerPool {
  readonly #slots: Slot[];
  readonly #log: Logger;
  readonly #waiting = new Map<number, { pending: Set<number>; answers: unknown[]; done: () => void }>();
  #nextId = 1;
  #stopping = false;
  #started = false;
  #failStart: ((error: Error) => void) | undefined;
  #whenAllReady: (() => void) | undefined;
  readonly #greeting: (() => ToWorker) | undefined;

  /** `greeting`: what a starting worker that asks for it is sent (the store's texts). */
  constructor(count: number, log: Logger, greeting?: () => ToWorker) {
    this.#log = log;
    this.#greeting = greeting;
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
    if (answer.mtpAuthz === 'greeting') {
      if (this.#greeting !== undefined) slot.worker?.send(this.#greeting());
      return;
    }
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
