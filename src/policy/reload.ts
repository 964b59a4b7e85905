/**
 * Hot reload: watch → debounce → read all → validate (off-thread) → compile → swap in one
 * assignment. A failed load never replaces the serving snapshot; it is logged with every
 * violation, counted, and marks the service stale until a later load succeeds.
 */
import { formatIssue } from './errors.js';
import type { Logger } from '../observability/log.js';
import type { CompiledTables } from './compile.js';
import type { LoadResult } from './load.js';
import type { PolicyIssue, PolicySet } from './types.js';
import { type PolicyWatcher, watchPolicyPaths } from './watch.js';
import type { ServiceState, Snapshot } from '../authz/state.js';

export type ReloadOutcome =
  | { readonly ok: true; readonly generation: number; readonly durationMs: number }
  | {
      readonly ok: false;
      readonly errors: readonly PolicyIssue[];
      readonly durationMs: number;
      /** The service is shutting down: no reload ran (or its result was dropped). */
      readonly stopped?: true;
    };

/** Loads whose files kept changing while being read, one after another, before a reload gives up. */
const MAX_READ_ATTEMPTS = 5;

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
  /** Told of every load whose files changed while being read (counted, then read again). */
  readonly onChangedWhileReading?: (files: readonly string[]) => void;
}

const STOPPED: ReloadOutcome = { ok: false, errors: [], durationMs: 0, stopped: true };

export class Reloader {
  readonly #options: ReloaderOptions;
  #running: Promise<ReloadOutcome> | undefined;
  #queued: Promise<ReloadOutcome> | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #resync: NodeJS.Timeout | undefined;
  #watcher: PolicyWatcher | undefined;
  /** What the serving snapshot was loaded from; a file event that finds the same changes nothing. */
  #fingerprint: string | undefined;
  /** Warnings already logged: a reload logs only the new ones. */
  #warned = new Set<string>();
  #stale = false;
  #stopped = false;
  /** performance.now() of the last file event, and of the start of the newest load. */
  #lastEventAt = 0;
  #loadStartedAt = -1;

  constructor(options: ReloaderOptions) {
    this.#options = options;
  }

  /** True while the newest files failed to load and an older snapshot serves. */
  get stale(): boolean {
    return this.#stale;
  }

  /** Starts watching; the initial snapshot must already be in the state. */
  async start(): Promise<void> {
    this.#warned = new Set((this.#options.state.current?.set.warnings ?? []).map(formatIssue));
    this.#watcher = watchPolicyPaths(this.#options.paths, (reason) => this.schedule(reason));
    await this.#watcher.refresh();
    const interval = this.#options.resyncIntervalMs ?? 30_000;
    if (interval > 0) {
      this.#resync = setInterval(() => void this.#rescan(), interval);
      this.#resync.unref();
    }
  }

  /** True once stop() ran: reloads are refused from then on. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Stops watching and ends the loader; reloads asked for later resolve `stopped` at once. */
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
    this.#lastEventAt = performance.now();
    clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => {
      // A load that started after the last event (an admin write's own reload) reads this change.
      if (this.#loadStartedAt >= this.#lastEventAt) return;
      void this.#reloadIfChanged(reason);
    }, this.#options.debounceMs ?? 250);
    this.#debounce.unref();
  }

  /**
   * Reloads now. Resolves once a load that started after this call has finished, so a caller
   * that just wrote a file sees its write served (or its failure) — read-your-writes.
   */
  reload(reason: string): Promise<ReloadOutcome> {
    return this.#reload(reason, false);
  }

  #reload(reason: string, onlyIfChanged: boolean): Promise<ReloadOutcome> {
    if (this.#stopped) return Promise.resolve(STOPPED);
    if (this.#running === undefined) {
      const run = this.#run(reason, onlyIfChanged).finally(() => {
        this.#running = undefined;
      });
      this.#running = run;
      return run;
    }
    this.#queued ??= this.#running.then(() => {
      this.#queued = undefined;
      return this.#reload(reason, onlyIfChanged);
    });
    return this.#queued;
  }

  /** A file event or the periodic rescan: a load that finds the serving files unchanged swaps nothing. */
  #reloadIfChanged(reason: string): Promise<ReloadOutcome> {
    return this.#reload(reason, true);
  }

  async #rescan(): Promise<void> {
    if (this.#stopped || this.#running !== undefined) return;
    await this.#reloadIfChanged('periodic rescan found changes');
  }

  /** Loads until no file changed while it was read (each attempt first waits for files to settle). */
  async #load(): Promise<LoadResult> {
    const { load, paths, log } = this.#options;
    for (let attempt = 1; ; attempt++) {
      const result = await load(paths);
      const changed = result.changedWhileReading;
      if (changed === undefined || changed.length === 0 || this.#stopped) return result;
      this.#options.onChangedWhileReading?.(changed);
      log.warn({ files: changed, attempt }, 'file changed while reading');
      if (attempt >= MAX_READ_ATTEMPTS) return result;
    }
  }

  async #run(reason: string, onlyIfChanged: boolean): Promise<ReloadOutcome> {
    const { state, log, compile } = this.#options;
    const started = performance.now();
    this.#loadStartedAt = started;
    // Arm watches on new directories first: anything written after this is seen by the read below
    // or raises an event for the next reload.
    await this.#watcher?.refresh();
    let outcome: ReloadOutcome;
    let snapshot: Snapshot | undefined;
    try {
      const result = await this.#load();
      if (this.#stopped) return STOPPED;
      const serving = state.current;
      if (
        onlyIfChanged &&
        result.ok &&
        !this.#stale &&
        serving !== undefined &&
        result.fingerprint !== undefined &&
        result.fingerprint === this.#fingerprint
      )
        return { ok: true, generation: serving.generation, durationMs: performance.now() - started };
      if (result.ok) {
        const generation = (state.current?.generation ?? 0) + 1;
        const tables = compile(result.set, generation);
        snapshot = { ...tables, set: result.set, generation, loadedAt: new Date(), files: result.files };
        state.swap(snapshot);
        this.#stale = false;
        this.#fingerprint = result.fingerprint;
        outcome = { ok: true, generation, durationMs: performance.now() - started };
        this.#logNewWarnings(result.set.warnings);
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
      if (this.#stopped) return STOPPED;
      this.#stale = state.current !== undefined;
      outcome = { ok: false, errors: [], durationMs: performance.now() - started };
      log.error({ reason, err: error }, 'policy reload failed; keeping the last good policies');
    }
    this.#options.onReload?.(outcome, snapshot);
    return outcome;
  }

  /** Logs the warnings no earlier load logged; one that went away and comes back is logged again. */
  #logNewWarnings(warnings: readonly PolicyIssue[]): void {
    const now = new Set(warnings.map(formatIssue));
    for (const warning of now)
      if (!this.#warned.has(warning)) this.#options.log.warn({ warning }, 'policy warning');
    this.#warned = now;
  }
}
