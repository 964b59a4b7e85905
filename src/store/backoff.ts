/**
 * Capped exponential back-off with jitter, for reconnecting to the store: replicas that lost the
 * database together do not knock on it together.
 */
export interface Backoff {
  readonly firstMs: number;
  readonly maxMs: number;
}

export const STORE_BACKOFF: Backoff = { firstMs: 250, maxMs: 5_000 };

/** The wait before attempt `attempt` (1 = the first retry): first·2^(n-1), capped, then ±20 %. */
export function backoffDelay(attempt: number, backoff: Backoff, random: () => number = Math.random): number {
  const base = Math.min(backoff.firstMs * 2 ** Math.max(0, attempt - 1), backoff.maxMs);
  return Math.round(base * (0.8 + 0.4 * random()));
}
