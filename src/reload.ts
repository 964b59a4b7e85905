/**
 * Hot reload: watch → debounce → read all → validate (off-thread) → compile → swap in one
 * assignment. A failed load never replaces the serving snapshot; it is logged with every
 * violation, counted, and marks the service stale until a later load succeeds.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { formatIssue } from './errors.js';
import type { Logger } from './log.js';
import type { CompiledTables } from './policy/compile.js';
import type { LoadResult } from './policy/load.js';
import type { PolicyIssue, PolicySet } from './policy/types.js';
import { type PolicyWatcher, watchPolicyPaths } from './policy/watch.js';
import type { ServiceState, Snapshot } from './state.js';

export type ReloadOutcome =
  | { readonly ok: true; readonly generation: number; readonly durationMs: number }
  | { readonly ok: false; readonly errors: readonly PolicyIssue[]; readonly durationMs: number };

export interface ReloaderOptions {
  readonly paths: readonly string[];
  readonly state: ServiceState;
  readonly log: Logger;
  readonly load: (paths: readonly string[]) => Promise<LoadResult>;
  readonly compile: (set: PolicySet, generation: number) => CompiledTables;
  /** Quiet time after the last file event before reloading (editors write in several steps). */
  readonly debounceMs?: number;
  /** Full rescan period, the safety net for missed events; 0 disables it. */
  readonly resyncIntervalMs?: number;
  /** Releases what `load` holds (its loader thread) when the reloader stops. */
  readonly close?: () => void;
  /** Told of every finished reload (metrics). */
  readonly onReload?: (outcome: ReloadOutcome, snapshot: Snapshot | undefined) => void;
}

export class Reloader {
  readonly #options: ReloaderOptions;
  #running: Promise<ReloadOutcome> | undefined;
  #queued: Promise<ReloadOutcome> | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #resync: NodeJS.Timeout | undefined;
  #watcher: PolicyWatcher | undefined;
  #fingerprint = '';
  #stale = false;
  #stopped = false;

  constructor(options: ReloaderOptions) {
    this.#options = options;
  }

  /** True while the newest files failed to load and an older snapshot serves. */
  get stale(): boolean {
    return this.#stale;
  }

  /** Starts watching; the initial snapshot must already be in the state. */
  async start(): Promise<void> {
    this.#fingerprint = await fingerprint(this.#options.paths);
    this.#watcher = watchPolicyPaths(this.#options.paths, (reason) => this.schedule(reason));
    await this.#watcher.refresh();
    const interval = this.#options.resyncIntervalMs ?? 30_000;
    if (interval > 0) {
      this.#resync = setInterval(() => void this.#rescan(), interval);
      this.#resync.unref();
    }
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#debounce);
    clearInterval(this.#resync);
    this.#watcher?.close();
    this.#options.close?.();
  }

  /** A file event: reload once things have been quiet for the debounce time. */
  schedule(reason: string): void {
    if (this.#stopped) return;
    clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => void this.reload(reason), this.#options.debounceMs ?? 250);
    this.#debounce.unref();
  }

  /**
   * Reloads now. Resolves once a load that started after this call has finished, so a caller
   * that just wrote a file sees its write served (or its failure) — read-your-writes.
   */
  reload(reason: string): Promise<ReloadOutcome> {
    if (this.#running === undefined) {
      const run = this.#run(reason).finally(() => {
        this.#running = undefined;
      });
      this.#running = run;
      return run;
    }
    this.#queued ??= this.#running.then(() => {
      this.#queued = undefined;
      return this.reload(reason);
    });
    return this.#queued;
  }

  async #rescan(): Promise<void> {
    if (this.#stopped || this.#running !== undefined) return;
    const current = await fingerprint(this.#options.paths);
    if (current !== this.#fingerprint) await this.reload('periodic rescan found changes');
  }

  async #run(reason: string): Promise<ReloadOutcome> {
    const { state, log, load, compile, paths } = this.#options;
    const started = performance.now();
    // Arm watches on new directories first: anything written after this is seen by the read below
    // or raises an event for the next reload.
    await this.#watcher?.refresh();
    const seen = await fingerprint(paths);
    let outcome: ReloadOutcome;
    let snapshot: Snapshot | undefined;
    try {
      const result = await load(paths);
      if (result.ok) {
        const generation = (state.current?.generation ?? 0) + 1;
        const tables = compile(result.set, generation);
        snapshot = { ...tables, set: result.set, generation, loadedAt: new Date(), files: result.files };
        state.swap(snapshot);
        this.#stale = false;
        outcome = { ok: true, generation, durationMs: performance.now() - started };
        for (const warning of result.set.warnings)
          log.warn({ warning: formatIssue(warning) }, 'policy warning');
        log.info(
          { reason, generation, policies: result.set.policies.length, ms: Math.round(outcome.durationMs) },
          'policies reloaded',
        );
      } else {
        this.#stale = state.current !== undefined;
        outcome = { ok: false, errors: result.errors, durationMs: performance.now() - started };
        for (const issue of result.errors) log.error({ violation: formatIssue(issue) }, 'policy violation');
        log.error(
          { reason, violations: result.errors.length, servingGeneration: state.current?.generation },
          'policy reload failed; keeping the last good policies',
        );
      }
    } catch (error) {
      this.#stale = state.current !== undefined;
      outcome = { ok: false, errors: [], durationMs: performance.now() - started };
      log.error({ reason, err: error }, 'policy reload failed; keeping the last good policies');
    }
    this.#fingerprint = seen;
    this.#options.onReload?.(outcome, snapshot);
    return outcome;
  }
}

const MAX_DEPTH = 32;

/**
 * Names, sizes, modification times and inodes of every visible file under the policy paths,
 * following symlinks — a ConfigMap `..data` swap changes the inode behind each visible name.
 */
export async function fingerprint(paths: readonly string[]): Promise<string> {
  const parts: string[] = [];
  const visit = async (path: string, depth: number): Promise<void> => {
    const info = await stat(path).catch(() => undefined);
    if (info === undefined) {
      parts.push(`${path}:missing`);
      return;
    }
    if (!info.isDirectory()) {
      parts.push(`${path}:${info.size}:${info.mtimeMs}:${info.ino}`);
      return;
    }
    if (depth > MAX_DEPTH) return;
    const names = (await readdir(path).catch(() => [] as string[])).filter((n) => !n.startsWith('.')).sort();
    for (const name of names) await visit(join(path, name), depth + 1);
  };
  for (const path of paths) await visit(path, 0);
  return parts.join('\n');
}
