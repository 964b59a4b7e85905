/**
 * The outcome of the latest reload and of the latest failed one, for `GET /status`: a failed
 * reload leaves the old policies serving, and the operator needs its violations (FILE:LINE:COL)
 * without reading the logs.
 */
import { formatIssue } from '../policy/errors.js';
import type { ReloadOutcome } from '../policy/reload.js';

/** Violations kept from one failed reload; the count says how many there were. */
export const MAX_REPORTED_ERRORS = 100;

export interface ReloadReport {
  readonly result: 'success' | 'failure';
  readonly at: string;
  readonly durationMs: number;
  /** The generation it published (success only). */
  readonly generation: number | null;
  readonly errorCount: number;
  readonly errors: readonly {
    readonly file: string;
    readonly line: number;
    readonly col: number;
    readonly path: string;
    readonly message: string;
    /** `FILE:LINE:COL: FIELD_PATH: MESSAGE`, as `validate` prints it. */
    readonly text: string;
  }[];
}

export class ReloadStatus {
  #last: ReloadReport | null = null;
  #lastFailure: ReloadReport | null = null;

  observe(outcome: ReloadOutcome, at: Date = new Date()): void {
    const base = { at: at.toISOString(), durationMs: Math.round(outcome.durationMs) };
    if (outcome.ok) {
      this.#last = { result: 'success', ...base, generation: outcome.generation, errorCount: 0, errors: [] };
      return;
    }
    this.#last = this.#lastFailure = {
      result: 'failure',
      ...base,
      generation: null,
      errorCount: outcome.errors.length,
      errors: outcome.errors.slice(0, MAX_REPORTED_ERRORS).map((issue) => ({
        file: issue.file,
        line: issue.line,
        col: issue.col,
        path: issue.path,
        message: issue.message,
        text: formatIssue(issue),
      })),
    };
  }

  /** Null until the first reload after start-up. */
  get last(): ReloadReport | null {
    return this.#last;
  }

  get lastFailure(): ReloadReport | null {
    return this.#lastFailure;
  }
}
