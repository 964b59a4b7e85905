/**
 * Runs `POST /explain` on a worker thread, under a time budget, so that no explanation — however
 * large or hostile — can hold up the Checks answered on the main thread. The thread gets the
 * serving policy set (once per generation, when an explanation needs it) and compiles its own
 * table. An explanation over the budget ends the thread (the next one starts a new thread) and is
 * answered 422; more than a few waiting at once are answered 429. Where no compiled worker file
 * exists (running from sources) the same code runs in-line.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { DecisionTable } from '../decision/table.js';
import type { PolicySet } from '../policy/types.js';
import {
  answerExplain,
  DEFAULT_EXPLAIN_LIMITS,
  type ExplainAnswer,
  type ExplainLimits,
  problem,
} from './explain-request.js';
import type { ExplainJob, ExplainReply } from './explain-worker.js';

const workerUrl = new URL('./explain-worker.js', import.meta.url);

/** The policies an explanation is answered against. */
export interface ExplainPolicies {
  readonly generation: number;
  readonly set: PolicySet;
  /** The compiled table, for answering in-line. */
  readonly table: DecisionTable;
}

export interface ExplainThreadOptions {
  readonly limits?: ExplainLimits;
  /** Longest an explanation may take. */
  readonly budgetMs?: number;
  /** Explanations running or waiting at once; more are answered 429. */
  readonly maxPending?: number;
}

export const EXPLAIN_BUDGET_MS = 5_000;
export const EXPLAIN_MAX_PENDING = 4;

interface Pending {
  readonly resolve: (answer: ExplainAnswer) => void;
  readonly timer: NodeJS.Timeout;
}

export class ExplainThread {
  readonly #limits: ExplainLimits;
  readonly #budgetMs: number;
  readonly #maxPending: number;
  readonly #inLine = !existsSync(fileURLToPath(workerUrl));
  readonly #pending = new Map<number, Pending>();
  #worker: Worker | undefined;
  /** The generation the current thread was last sent. */
  #sent: number | undefined;
  #next = 0;

  constructor(options: ExplainThreadOptions = {}) {
    this.#limits = options.limits ?? DEFAULT_EXPLAIN_LIMITS;
    this.#budgetMs = options.budgetMs ?? EXPLAIN_BUDGET_MS;
    this.#maxPending = options.maxPending ?? EXPLAIN_MAX_PENDING;
  }

  /**
   * Explains the request of `body`. Its buffer is handed over to the thread (the main thread
   * never decodes or holds the text of a large body); a view into a larger buffer is copied first.
   */
  explain(body: Uint8Array, policies: ExplainPolicies): Promise<ExplainAnswer> {
    if (this.#inLine) return Promise.resolve(answerExplain(policies.table, body, this.#limits));
    if (this.#pending.size >= this.#maxPending) {
      return Promise.resolve(
        answerOf(
          problem(
            429,
            'Too Many Requests',
            `${this.#maxPending} explanations are already running; retry later`,
          ),
        ),
      );
    }
    const worker = this.#worker ?? this.#spawn();
    if (this.#sent !== policies.generation) {
      this.#post(worker, { kind: 'policies', generation: policies.generation, set: policies.set });
      this.#sent = policies.generation;
    }
    const id = ++this.#next;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#overBudget(id), this.#budgetMs);
      timer.unref();
      this.#pending.set(id, { resolve, timer });
      worker.ref();
      const own = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength ? body : body.slice();
      this.#post(worker, { kind: 'explain', id, body: own, limits: this.#limits }, [
        own.buffer as ArrayBuffer,
      ]);
    });
  }

  /** Ends the thread; explanations in flight are answered 503. */
  close(): void {
    this.#end(problem(503, 'Service Unavailable', 'the service is stopping'));
  }

  #post(worker: Worker, job: ExplainJob, transfer: ArrayBuffer[] = []): void {
    worker.postMessage(job, transfer);
  }

  #overBudget(id: number): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    pending.resolve(
      answerOf(
        problem(
          422,
          'Unprocessable Content',
          `the request is too complex to explain within ${this.#budgetMs / 1000} s`,
        ),
      ),
    );
    // The thread is still busy with it: end the thread, and with it every explanation queued
    // behind this one.
    this.#end(problem(503, 'Service Unavailable', 'an earlier explanation ran over its time budget; retry'));
  }

  #end(why: ReturnType<typeof problem>): void {
    const worker = this.#worker;
    this.#worker = undefined;
    this.#sent = undefined;
    if (worker !== undefined) void worker.terminate();
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      this.#pending.delete(id);
      pending.resolve(answerOf(why));
    }
  }

  #spawn(): Worker {
    const worker = new Worker(workerUrl);
    worker.on('message', (reply: ExplainReply) => {
      const pending = this.#pending.get(reply.id);
      if (pending === undefined) return;
      this.#pending.delete(reply.id);
      if (this.#pending.size === 0) worker.unref();
      clearTimeout(pending.timer);
      pending.resolve(reply.answer);
    });
    const fail = (): void => {
      if (this.#worker !== worker) return;
      this.#end(problem(500, 'Internal Server Error', 'the explain thread failed'));
    };
    worker.on('error', fail);
    worker.on('exit', fail);
    // After the listeners, which ref the thread again: an idle explain thread must not keep the
    // process alive; one with explanations pending does (see #track).
    worker.unref();
    this.#worker = worker;
    return worker;
  }
}

function answerOf(body: ReturnType<typeof problem>): ExplainAnswer {
  return { status: body.status, body };
}
