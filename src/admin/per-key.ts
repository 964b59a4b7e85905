/**
 * Runs tasks one after another per key, and tasks of different keys side by side: two writes of
 * one resource never interleave. A key's entry lives only while it has tasks pending.
 */
export class PerKeyQueue {
  readonly #tails = new Map<string, Promise<void>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const run = previous.then(task);
    // The next task waits for this one to settle, whether it succeeds or fails.
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return run;
  }
}
