/**
 * The last N denies and shadow-denies, in memory, for `GET /decisions/recent` and the console.
 * A fixed ring: recording overwrites the oldest slot and never allocates beyond one small record,
 * so a flood of denies costs neither memory nor time. Lines are rendered only when read, with the
 * decision log's own fields (`lineOf`), so the two always agree.
 */
import type { DecisionLog, DecisionLogEntry } from '../observability/decision-log.js';
import { lineOf } from '../observability/decision-log.js';
import { decisionLabel } from '../observability/metrics.js';

interface Slot {
  readonly at: number;
  readonly entry: DecisionLogEntry;
}

export class RecentDecisions {
  readonly capacity: number;
  readonly #slots: (Slot | undefined)[];
  #next = 0;
  #recorded = 0;

  constructor(capacity: number) {
    this.capacity = Math.max(0, Math.floor(capacity));
    this.#slots = new Array<Slot | undefined>(this.capacity).fill(undefined);
  }

  /** Keeps the entry when its enforced decision is a deny or a shadow-deny; plain allows are not kept. */
  record(entry: DecisionLogEntry, at: number = Date.now()): void {
    if (this.capacity === 0 || entry.decision.action === 'Allow') return;
    this.#slots[this.#next] = { at, entry };
    this.#next = (this.#next + 1) % this.capacity;
    this.#recorded++;
  }

  /** How many were recorded since start-up (kept or since overwritten). */
  get recorded(): number {
    return this.#recorded;
  }

  /** Newest first, as decision log lines (`time` first). */
  lines(): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (let i = 1; i <= this.capacity; i++) {
      const slot = this.#slots[(this.#next - i + this.capacity) % this.capacity];
      if (slot === undefined) break;
      out.push({
        time: new Date(slot.at).toISOString(),
        ...lineOf(decisionLabel(slot.entry.decision.action), slot.entry),
      });
    }
    return out;
  }
}

/** A decision log that also keeps its denies and shadow-denies in `recent`. */
export function recordingDecisionLog(
  log: DecisionLog,
  recent: RecentDecisions,
  now: () => number = Date.now,
): DecisionLog {
  return {
    wants: (decision, shadowDiffers) => log.wants(decision, shadowDiffers),
    record(entry) {
      recent.record(entry, now());
      log.record(entry);
    },
    flush: () => log.flush(),
    close: () => log.close(),
  };
}
