/**
 * Convergence lag: from a write's commit (the database's clock, carried in its notification) to
 * the moment this replica serves a set at least that new. Bounded: a replica that cannot load
 * keeps only the newest commits waiting.
 */
const MAX_WAITING = 1000;

export class Convergence {
  readonly #observe: (seconds: number) => void;
  readonly #waiting: { version: number; committedAt: number }[] = [];

  constructor(observe: (seconds: number) => void) {
    this.#observe = observe;
  }

  /** A commit was announced; `served` is the version serving now. */
  committed(version: number, committedAt: number, served: number): void {
    if (version <= served) {
      this.#record(committedAt);
      return;
    }
    this.#waiting.push({ version, committedAt });
    if (this.#waiting.length > MAX_WAITING) this.#waiting.shift();
  }

  /** A set at `version` now serves: every commit up to it has converged. */
  served(version: number): void {
    while (this.#waiting.length > 0 && (this.#waiting[0]?.version ?? Infinity) <= version)
      this.#record((this.#waiting.shift() as { committedAt: number }).committedAt);
  }

  #record(committedAt: number): void {
    // Clocks of two hosts differ a little: a commit "in the future" converged at once.
    this.#observe(Math.max(0, Date.now() - committedAt) / 1000);
  }
}
