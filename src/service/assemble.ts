/**
 * The composition root of `mtp-authz serve`: settings → policy loader → initial state → metrics,
 * caches, decision log, console records and reloader. single.ts and cluster/ open listeners over
 * what it builds; nothing else wires modules together.
 */
import { Registry } from 'prom-client';
import { clientFromCertificate } from '../authz/certificate.js';
import { RecentDecisions, recordingDecisionLog } from '../console/recent-decisions.js';
import { ReloadStatus } from '../console/reload-status.js';
import { ShadowRecord } from '../console/shadow-record.js';
import { cachedCertificateReader, DecisionCache } from '../decision/cache.js';
import { type IdentityLimits } from '../decision/identity.js';
import { createDecisionLog, type DecisionLog } from '../observability/decision-log.js';
import { formatIssue } from '../policy/errors.js';
import { type Logger, logDrops } from '../observability/log.js';
import { createMetrics, type Metrics } from '../observability/metrics.js';
import { compileTables } from '../policy/compile.js';
import { PolicyLoader } from '../policy/load-off-thread.js';
import type { LoadResult } from '../policy/load.js';
import type { StoreSource } from '../store/mirror.js';
import type { PolicySet } from '../policy/types.js';
import { Reloader, type ReloaderOptions } from '../policy/reload.js';
import type { Settings } from '../settings/settings.js';
import { ServiceState } from '../authz/state.js';
import { stdoutDroppedLines } from '../observability/stdout.js';
import { EXIT_INVALID_POLICIES, StartError } from './open.js';

export interface StartOptions {
  readonly log: Logger;
  /** Where policy violations are printed at start-up (stderr). */
  readonly report?: (line: string) => void;
  /** Decision log destination; default stdout. */
  readonly decisionLog?: DecisionLog;
  /** The loader thread, when the caller made it first (the shared store checks writes with it). */
  readonly loader?: PolicyLoader;
  /** The metrics registry, when the caller made it first (the shared store's metrics are on it). */
  readonly registry?: Registry;
  /** `--store`: the texts every load reads along with the files. */
  readonly storeSource?: StoreSource;
}

/** The policy paths of a start-up or reload: the operator's, then the admin API's own directory. */
export function policyPaths(settings: Settings): string[] {
  return settings.adminStateDir === undefined
    ? [...settings.policies]
    : [...settings.policies, settings.adminStateDir];
}

export function identityLimits(settings: Settings): IdentityLimits {
  return { maxUriSans: settings.maxCertificateSans };
}

/** GET /metrics, GET /policies and POST /explain over the live state. */
/** One loader thread per process, shared by the start-up load and reloads (its cache warms once). */
export function createLoader(settings: Settings): PolicyLoader {
  return new PolicyLoader({
    maxFileBytes: settings.maxPolicyFileBytes,
    maxTotalBytes: settings.maxPolicyBytes,
    stabilityWindowMs: settings.reloadStabilityWindowMs,
    // The admin API writes by rename: its files are complete the moment they appear.
    atomicPaths: settings.adminStateDir === undefined ? [] : [settings.adminStateDir],
  });
}

/**
 * The start-up load of `--policies` (and the admin state directory) into a fresh state; throws
 * StartError (exit 1) after printing every violation.
 */
export async function loadInitialState(
  settings: Settings,
  loader: PolicyLoader,
  log: Logger,
  report: (line: string) => void,
  source?: StoreSource,
): Promise<{ state: ServiceState; set: PolicySet }> {
  const snapshot = source?.snapshot();
  const loaded = await loader.load(policyPaths(settings), snapshot?.texts);
  if (loaded.ok && snapshot !== undefined) source?.served(snapshot.version);
  const warnings = loaded.ok ? loaded.set.warnings : loaded.warnings;
  for (const warning of warnings) log.warn({ warning: formatIssue(warning) }, 'policy warning');
  if (!loaded.ok) {
    for (const issue of loaded.errors) report(formatIssue(issue));
    throw new StartError(EXIT_INVALID_POLICIES, `invalid policies: ${loaded.errors.length} violation(s)`);
  }
  const generation = 1;
  const state = new ServiceState({
    ...compileTables(loaded.set, generation),
    set: loaded.set,
    generation,
    loadedAt: new Date(),
    files: loaded.files,
  });
  log.info(
    { generation, policies: loaded.set.policies.length, files: loaded.files.length },
    'policies loaded',
  );
  return { state, set: loaded.set };
}

/** The policy watcher of a process: reloads its state from the same paths as the start-up load. */
export function createReloader(
  settings: Settings,
  loader: PolicyLoader,
  state: ServiceState,
  log: Logger,
  onReload?: ReloaderOptions['onReload'],
  onChangedWhileReading?: ReloaderOptions['onChangedWhileReading'],
  source?: StoreSource,
): Reloader {
  // The version the newest load read: the one serving once that load is swapped in.
  let loadedVersion = 0;
  const load = async (paths: readonly string[]): Promise<LoadResult> => {
    if (source === undefined) return loader.load(paths);
    const snapshot = source.snapshot();
    const result = await loader.load(paths, snapshot.texts);
    loadedVersion = snapshot.version;
    // The same files at another store version are a change worth swapping in.
    return result.fingerprint === undefined
      ? result
      : { ...result, fingerprint: `${result.fingerprint}\nstore\0${snapshot.version}` };
  };
  return new Reloader({
    paths: policyPaths(settings),
    state,
    log,
    load,
    close: () => loader.close(),
    compile: compileTables,
    resyncIntervalMs: settings.resyncIntervalMs,
    onReload: (outcome, snapshot) => {
      if (outcome.ok && !('stopped' in outcome) && snapshot !== undefined) source?.served(loadedVersion);
      onReload?.(outcome, snapshot);
    },
    ...(onChangedWhileReading === undefined ? {} : { onChangedWhileReading }),
  });
}

/** The parts of a process that answers Check calls, built from the settings, nothing opened yet. */
export interface Assembled {
  readonly loader: PolicyLoader;
  readonly state: ServiceState;
  readonly registry: Registry;
  readonly metrics: Metrics;
  readonly decisions: DecisionCache;
  readonly identities: ReturnType<typeof cachedCertificateReader>;
  /** Not started: the caller starts it before it listens, so no change is missed. */
  readonly reloader: Reloader;
  readonly decisionLog: DecisionLog;
  readonly consoleRecords: ConsoleRecords;
}

/** What the console reads besides the state: recent denies, shadow differences, reload outcomes. */
export interface ConsoleRecords {
  readonly recent: RecentDecisions;
  readonly shadows: ShadowRecord;
  readonly reloads: ReloadStatus;
}

/**
 * The composition root: loads the policies into a fresh state and builds the metrics registry,
 * the caches, the decision log, the console's records and the reloader over them. Throws
 * StartError (exit 1) when the policies are invalid.
 */
export async function assemble(settings: Settings, options: StartOptions): Promise<Assembled> {
  const { log } = options;
  const report = options.report ?? ((line: string) => process.stderr.write(`${line}\n`));
  const loader = options.loader ?? createLoader(settings);
  const source = options.storeSource;
  const { state, set } = await loadInitialState(settings, loader, log, report, source);
  const generation = state.current?.generation ?? 1;

  const registry = options.registry ?? new Registry();
  const metrics = createMetrics(registry);
  metrics.recordReload(true, generation, set);
  const cacheObserver = {
    lookup: (cache: 'decision' | 'identity', hit: boolean) => metrics.recordCacheLookup(cache, hit),
  };
  const decisions = new DecisionCache(settings.decisionCacheSize, cacheObserver);
  const limits = identityLimits(settings);
  const identities = cachedCertificateReader(
    (pem) => clientFromCertificate(pem, limits),
    settings.identityCacheSize,
    cacheObserver,
  );
  metrics.trackCacheEntries('decision', () => decisions.size);
  metrics.trackCacheEntries('identity', identities.size);
  const consoleRecords: ConsoleRecords = {
    recent: new RecentDecisions(settings.recentDecisions),
    shadows: new ShadowRecord(),
    reloads: new ReloadStatus(),
  };
  const decisionLog = recordingDecisionLog(
    options.decisionLog ?? createDecisionLog({ logAllowed: settings.logAllowed }),
    consoleRecords.recent,
  );

  metrics.trackLogDrops(() => {
    const drops = logDrops(log);
    return {
      operationalRateLimited: drops.rateLimited,
      operationalBufferFull: drops.bufferFull,
      stdoutBufferFull: stdoutDroppedLines(),
    };
  });

  const reloader = createReloader(
    settings,
    loader,
    state,
    log,
    (outcome, snapshot) => {
      if ('stopped' in outcome) return;
      consoleRecords.reloads.observe(outcome);
      if (outcome.ok && snapshot !== undefined) metrics.recordReload(true, snapshot.generation, snapshot.set);
      else metrics.recordReload(false);
      metrics.setStale(reloader.stale || source?.stale === true);
    },
    () => metrics.recordChangedWhileReading(),
    source,
  );
  return { loader, state, registry, metrics, decisions, identities, reloader, decisionLog, consoleRecords };
}
