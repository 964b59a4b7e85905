/**
 * How much one multi-valued evaluation may do. A unit is roughly one typed-array step of the search
 * (some nanoseconds); the other steps are charged by their cost in those units. Real certificates
 * and policy sets need a few thousand; past the limit (a few milliseconds) the client is denied with
 * `identity-too-complex` rather than hold the event loop. Counting work instead of reading a clock
 * keeps the answer the same under any load.
 */
export const MULTI_VALUED_WORK_LIMIT = 500_000;

/** Charges, in units, of the steps outside the search itself. */
export const COST = {
  /** A map lookup or insertion on a tag value. */
  index: 8,
  /** Setting up one candidate's check. */
  reachable: 60,
  /** Visiting one key-set group for a candidate. */
  group: 20,
  /** Reading one pair of a later subset. */
  pair: 10,
} as const;

/** Work left for one evaluation; tests read `spent` to bound the cost without a clock. */
export class WorkBudget {
  readonly limit: number;
  #left: number;
  constructor(limit = MULTI_VALUED_WORK_LIMIT) {
    this.limit = limit;
    this.#left = limit;
  }
  /** False once the budget is spent. */
  spend(units: number): boolean {
    this.#left -= units;
    return this.#left >= 0;
  }
  get exhausted(): boolean {
    return this.#left < 0;
  }
  get spent(): number {
    return this.limit - this.#left;
  }
}
