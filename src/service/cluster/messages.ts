/** What the primary and its workers say to each other over the IPC channel. */
import type { Registry } from 'prom-client';
import type { MirrorSnapshot } from '../../store/mirror.js';

/** One registry's metrics as `getMetricsAsJSON` gives them (what AggregatorRegistry.aggregate takes). */
export type MetricJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>[number];

export type ToWorker =
  | {
      readonly mtpAuthz: 'reload';
      readonly id: number;
      readonly reason: string;
      /** `--store`: the store's texts the reload is to read (the primary owns the store). */
      readonly store?: MirrorSnapshot;
    }
  | { readonly mtpAuthz: 'metrics'; readonly id: number }
  /** `--store`: sent to a worker as it is forked, before its first load. */
  | { readonly mtpAuthz: 'store'; readonly store: MirrorSnapshot };

export type FromWorker =
  | { readonly mtpAuthz: 'ready' }
  /** A starting worker asks for what it needs before its first load (the store's texts). */
  | { readonly mtpAuthz: 'greeting' }
  | { readonly mtpAuthz: 'reloaded'; readonly id: number; readonly ok: boolean }
  | { readonly mtpAuthz: 'metrics'; readonly id: number; readonly metrics: MetricJson[] };

/** This worker's slot (0 … N-1), set by the primary when it forks; a restarted worker keeps it. */

export const ANSWER_TIMEOUT_MS = 10_000;

export function isMessage(value: unknown): value is { mtpAuthz: string; id?: number } {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { mtpAuthz?: unknown }).mtpAuthz === 'string'
  );
}
