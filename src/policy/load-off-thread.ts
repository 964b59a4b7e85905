/**
 * loadPolicies on a long-lived worker thread, so parsing thousands of YAML documents never stalls
 * Checks and unchanged files are not parsed again. A thread that dies is replaced on the next
 * load. Falls back to the calling thread (with its own cache) where no compiled worker exists,
 * i.e. when running from sources.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { type LoadOptions, type LoadResult, loadPolicies, ParseCache, type PolicyText } from './load.js';
import type { LoadJob } from './load-worker.js';

const workerUrl = new URL('./load-worker.js', import.meta.url);

type Reply =
  { readonly id: number; readonly result: LoadResult } | { readonly id: number; readonly error: string };

export class PolicyLoader {
  readonly #options: Partial<LoadOptions>;
  readonly #inThread = existsSync(fileURLToPath(workerUrl)) ? undefined : new ParseCache();
  readonly #pending = new Map<number, { resolve(result: LoadResult): void; reject(error: Error): void }>();
  #worker: Worker | undefined;
  #next = 0;
  #closed = false;

  constructor(options: Partial<LoadOptions> = {}) {
    this.#options = options;
  }

  /** Loads `paths`; `texts` (the shared store's resources) are validated together with the files. */
  load(paths: readonly string[], texts: readonly PolicyText[] = []): Promise<LoadResult> {
    // After close() no thread is started again: it would keep a stopping process alive.
    if (this.#closed) return Promise.reject(new Error('the policy loader is closed'));
    if (this.#inThread !== undefined) return loadPolicies(paths, this.#options, this.#inThread, texts);
    const worker = this.#worker ?? this.#spawn();
    const id = ++this.#next;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      const job: LoadJob = { id, paths: [...paths], options: this.#options, texts: [...texts] };
      worker.postMessage(job);
    });
  }

  /** Ends the thread for good (pending loads fail; later loads are refused). */
  close(): void {
    this.#closed = true;
    const worker = this.#worker;
    this.#worker = undefined;
    for (const waiter of this.#pending.values()) waiter.reject(new Error('the policy loader is closed'));
    this.#pending.clear();
    void worker?.terminate();
  }

  #spawn(): Worker {
    const worker = new Worker(workerUrl);
    worker.unref(); // an idle loader must not keep the process alive
    worker.on('message', (reply: Reply) => {
      const waiter = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      if ('result' in reply) waiter?.resolve(reply.result);
      else waiter?.reject(new Error(`policy loader failed: ${reply.error}`));
    });
    const fail = (error: Error): void => {
      if (this.#worker === worker) this.#worker = undefined;
      for (const waiter of this.#pending.values()) waiter.reject(error);
      this.#pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`policy loader thread exited with code ${code}`)));
    this.#worker = worker;
    return worker;
  }
}
