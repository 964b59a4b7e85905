/**
 * The composition root of `mtp-authz serve`: settings → policies → decision table → state →
 * gRPC and HTTP listeners → signals. Nothing else wires modules together.
 */

import { Registry } from 'prom-client';
import { createAuditLog } from './admin/audit.js';
import { builtinDefaultBinding } from './admin/builtins.js';
import { createAdminRoutes } from './admin/routes.js';
import { RevocationList } from './admin/revocations.js';
import { AdminStore } from './admin/store.js';
import { describeWriters } from './admin/writers.js';
import { loadSigningKey, type SigningKey, SigningKeyError, tokenVerifier } from './admin/tokens.js';
import { clientFromCertificate } from './authz/certificate.js';
import { type GrpcService, startGrpcServer } from './authz/server.js';
import { loadUiAssets } from './console/assets.js';
import { RecentDecisions, recordingDecisionLog } from './console/recent-decisions.js';
import { ReloadStatus } from './console/reload-status.js';
import { consoleRoutes } from './console/routes.js';
import { ShadowRecord } from './console/shadow-record.js';
import { cachedCertificateReader, DecisionCache } from './decision/cache.js';
import { DEFAULT_IDENTITY_LIMITS, type IdentityLimits } from './decision/identity.js';
import { createDecisionLog, type DecisionLog } from './observability/decision-log.js';
import { formatIssue } from './policy/errors.js';
import type { Route } from './http/router.js';
import { explainLimits } from './http/explain-request.js';
import { ExplainThread } from './http/explain-thread.js';
import { type ObservabilityContext, observabilityRoutes } from './observability/routes.js';
import { type HttpLimits, type HttpService, startHttpServer } from './http/server.js';
import { flushLog, type Logger, logDrops } from './observability/log.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { httpConnectionCap, softOpenFileLimit } from './http/open-files.js';
import { compileTables } from './policy/compile.js';
import { PolicyLoader } from './policy/load-off-thread.js';
import type { PolicySet } from './policy/types.js';
import { type ReloadOutcome, Reloader, type ReloaderOptions } from './policy/reload.js';
import type { Settings } from './settings/settings.js';
import { ServiceState } from './authz/state.js';
import { flushStdout, stdoutDroppedLines } from './observability/stdout.js';

export const EXIT_INVALID_POLICIES = 1;
export const EXIT_USAGE = 2;

/** Why start() failed: an exit code and the lines already explained to the user. */
export class StartError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

export interface RunningService {
  readonly state: ServiceState;
  readonly registry: Registry;
  readonly reloader: Reloader;
  readonly grpc: GrpcService;
  readonly http: HttpService;
  readonly revocations: RevocationList | undefined;
  /** Drain: health NOT_SERVING, stop accepting, finish in-flight calls (cut after the grace). */
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly log: Logger;
  /** Where policy violations are printed at start-up (stderr). */
  readonly report?: (line: string) => void;
  /** Decision log destination; default stdout. */
  readonly decisionLog?: DecisionLog;
}

/** The policy paths of a start-up or reload: the operator's, then the admin API's own directory. */
export function policyPaths(settings: Settings): string[] {
  return settings.adminStateDir === undefined
    ? [...settings.policies]
    : [...settings.policies, settings.adminStateDir];
}

const NO_POLICIES_ANSWER = {
  status: 503,
  body: { status: 503, title: 'Service Unavailable', detail: 'no policy set loaded' },
};

export function identityLimits(settings: Settings): IdentityLimits {
  return { maxUriSans: settings.maxCertificateSans };
}

/** GET /metrics, GET /policies and POST /explain over the live state. */
export function observability(
  state: ServiceState,
  reloader: { readonly stale: boolean },
  registry: Pick<Registry, 'metrics' | 'contentType'>,
  limits: IdentityLimits = DEFAULT_IDENTITY_LIMITS,
): Route[] {
  // /explain runs on its own thread, against the generation that serves when it is asked.
  const explainer = new ExplainThread({ limits: explainLimits(limits) });
  const context: ObservabilityContext = {
    registry,
    identityLimits: limits,
    snapshot: () => {
      const current = state.current;
      return current === undefined ? undefined : { ...current, stale: reloader.stale };
    },
    table: () => state.current?.table,
    explain: (body) => {
      const current = state.current;
      if (current === undefined) return Promise.resolve(NO_POLICIES_ANSWER);
      return explainer.explain(body, current);
    },
  };
  return observabilityRoutes.map((route) => ({
    method: route.method,
    path: route.path,
    help: route.help,
    handle: (req, res) => route.handler(req, res, context),
  }));
}

/**
 * The start-up load of `--policies` (and the admin state directory) into a fresh state; throws
 * StartError (exit 1) after printing every violation.
 */
const loaders = new WeakMap<Settings, PolicyLoader>();

/** One loader thread per process, shared by the start-up load and reloads (its cache warms once). */
function loaderFor(settings: Settings): PolicyLoader {
  let loader = loaders.get(settings);
  if (loader === undefined) {
    loader = new PolicyLoader({
      maxFileBytes: settings.maxPolicyFileBytes,
      maxTotalBytes: settings.maxPolicyBytes,
      stabilityWindowMs: settings.reloadStabilityWindowMs,
      // The admin API writes by rename: its files are complete the moment they appear.
      atomicPaths: settings.adminStateDir === undefined ? [] : [settings.adminStateDir],
    });
    loaders.set(settings, loader);
  }
  return loader;
}

export async function loadInitialState(
  settings: Settings,
  log: Logger,
  report: (line: string) => void,
): Promise<{ state: ServiceState; set: PolicySet }> {
  const loaded = await loaderFor(settings).load(policyPaths(settings));
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
  state: ServiceState,
  log: Logger,
  onReload?: ReloaderOptions['onReload'],
  onChangedWhileReading?: ReloaderOptions['onChangedWhileReading'],
): Reloader {
  const loader = loaderFor(settings);
  return new Reloader({
    paths: policyPaths(settings),
    state,
    log,
    load: (paths) => loader.load(paths),
    close: () => loader.close(),
    compile: compileTables,
    resyncIntervalMs: settings.resyncIntervalMs,
    ...(onReload === undefined ? {} : { onReload }),
    ...(onChangedWhileReading === undefined ? {} : { onChangedWhileReading }),
  });
}

/** What answers Check calls: policies, caches, metrics, the reloader and the gRPC listener. */
export interface CheckService {
  readonly state: ServiceState;
  readonly registry: Registry;
  readonly metrics: Metrics;
  readonly reloader: Reloader;
  readonly grpc: GrpcService;
  readonly decisionLog: DecisionLog;
  readonly consoleRecords: ConsoleRecords;
}

/** What the console reads besides the state: recent denies, shadow differences, reload outcomes. */
export interface ConsoleRecords {
  readonly recent: RecentDecisions;
  readonly shadows: ShadowRecord;
  readonly reloads: ReloadStatus;
}

/** The console's routes (SPEC §11); the static /ui/ files only with `--ui`. */
export function consoleRoutesOf(
  settings: Settings,
  state: ServiceState,
  reloader: { readonly stale: boolean },
  registry: Registry,
  records: ConsoleRecords,
): Route[] {
  return consoleRoutes({
    ...records,
    registry,
    current: () => {
      const snapshot = state.current;
      return snapshot === undefined ? undefined : { snapshot, stale: reloader.stale };
    },
    assets: settings.ui ? (loadUiAssets() ?? null) : undefined,
  });
}

/** Loads the policies and opens the gRPC listener; throws StartError when it cannot. */
export async function startChecks(settings: Settings, options: StartOptions): Promise<CheckService> {
  const { log } = options;
  const report = options.report ?? ((line: string) => process.stderr.write(`${line}\n`));
  const { state, set } = await loadInitialState(settings, log, report);
  const generation = state.current?.generation ?? 1;

  const registry = new Registry();
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
    state,
    log,
    (outcome, snapshot) => {
      if ('stopped' in outcome) return;
      consoleRecords.reloads.observe(outcome);
      if (outcome.ok && snapshot !== undefined) metrics.recordReload(true, snapshot.generation, snapshot.set);
      else metrics.recordReload(false);
      metrics.setStale(reloader.stale);
    },
    () => metrics.recordChangedWhileReading(),
  );
  // Watch before listening: a change made right after start-up must not be missed.
  await reloader.start();

  const tls =
    settings.grpcTlsCert !== undefined && settings.grpcTlsKey !== undefined
      ? { cert: settings.grpcTlsCert, key: settings.grpcTlsKey, clientCa: settings.grpcTlsClientCa }
      : undefined;
  let grpc: GrpcService;
  try {
    grpc = await startGrpcServer(state, {
      address: settings.grpcAddress,
      ...(tls === undefined
        ? {}
        : { tls: tls.clientCa === undefined ? { cert: tls.cert, key: tls.key } : tls }),
      maxRequestBytes: settings.maxRequestBytes,
      maxConcurrentStreams: settings.grpcMaxConcurrentStreams,
      maxHealthWatches: settings.maxHealthWatches,
      readCertificate: identities.read,
      observers: { decisions, metrics, decisionLog, shadowRecord: consoleRecords.shadows },
      log,
    });
  } catch (error) {
    reloader.stop();
    throw new StartError(1, `cannot start the gRPC listener: ${(error as Error).message}`);
  }
  log.info({ listener: 'grpc', address: grpc.target, port: grpc.port, tls: tls !== undefined }, 'listening');
  return { state, registry, metrics, reloader, grpc, decisionLog, consoleRecords };
}

/**
 * The HTTP port's limits from the settings. Its connection cap never exceeds half the soft
 * open-file limit, so a flood of HTTP connections cannot take the descriptors new gRPC
 * connections need; a cut is logged with the way out (raise `ulimit -n`).
 */
export function httpLimitsOf(settings: Settings, log: Logger): HttpLimits {
  const softLimit = softOpenFileLimit();
  const maxConnections = httpConnectionCap(settings.httpMaxConnections, softLimit);
  if (maxConnections < settings.httpMaxConnections) {
    log.warn(
      { requested: settings.httpMaxConnections, maxConnections, openFileLimit: softLimit },
      'HTTP connection cap lowered to half the open-file limit; raise ulimit -n to allow more',
    );
  }
  return {
    maxConnections,
    headersTimeoutMs: settings.httpHeadersTimeoutMs,
    requestTimeoutMs: settings.httpRequestTimeoutMs,
    keepAliveTimeoutMs: settings.httpKeepAliveTimeoutMs,
  };
}

/** Logs the connections the HTTP port closed for being over its cap. */
export function logDroppedHttp(log: Logger, limits: HttpLimits): (count: number) => void {
  return (count) =>
    log.warn(
      { closed: count, maxConnections: limits.maxConnections },
      'HTTP connection limit reached; closing new connections',
    );
}

/** The admin API routes over a state and whatever reloads it (one process, or every worker). */
export function adminRoutesOf(
  settings: Settings,
  parts: {
    readonly state: ServiceState;
    readonly reloader: { reload(reason: string): Promise<ReloadOutcome> };
    readonly store: AdminStore | undefined;
    readonly signingKey: SigningKey | undefined;
    readonly revocations?: RevocationList | undefined;
    readonly metrics: Metrics;
    readonly log: Logger;
  },
): Route[] {
  const { state, reloader, store, signingKey, revocations, metrics, log } = parts;
  const maxLifetimeSeconds = Math.floor(settings.maxTokenLifetimeMs / 1000);
  const verifyOptions = {
    maxLifetimeSeconds,
    ...(revocations === undefined
      ? {}
      : { isRevoked: (jti: string | undefined, name: string) => revocations.isRevoked(jti, name) }),
  };
  return createAdminRoutes({
    state,
    reloader,
    ...(store === undefined ? {} : { store }),
    ...(signingKey === undefined ? {} : { signingKey }),
    authentication: {
      localhostIsAdmin: settings.adminLocalhostIsAdmin,
      ...(signingKey === undefined ? {} : { verifier: tokenVerifier(signingKey, verifyOptions) }),
    },
    accessType: settings.accessType,
    maxTokenLifetimeSeconds: maxLifetimeSeconds,
    defaultBinding: builtinDefaultBinding(settings.adminDefaultBinding),
    audit: createAuditLog(),
    onRequest: (method, code) => metrics.recordAdminRequest(method, code),
    log,
  });
}

/** Says at start-up who may write through the admin API; a warning when unauthenticated callers may. */
export function logAdminWriters(settings: Settings, state: ServiceState, log: Logger): void {
  const writers = describeWriters(settings, state.current?.set.accessRoleBindings ?? []);
  if (writers.openBindings.length > 0) log.warn({ openBindings: writers.openBindings }, writers.text);
  else log.info(writers.text);
}

/** Loads the policies and opens both listeners; throws StartError when it cannot. */
export async function start(settings: Settings, options: StartOptions): Promise<RunningService> {
  const { log } = options;
  const signingKey = await openSigningKey(settings);
  const revocations = await openRevocationList(settings, log);
  const store = await openAdminStore(settings);
  const { state, registry, metrics, reloader, grpc, decisionLog, consoleRecords } = await startChecks(
    settings,
    options,
  );

  let http: HttpService;
  try {
    const limits = httpLimitsOf(settings, log);
    const adminRoutes = adminRoutesOf(settings, {
      state,
      reloader,
      store,
      signingKey,
      revocations,
      metrics,
      log,
    });
    http = await startHttpServer(
      state,
      settings.httpAddress,
      [
        ...observability(state, reloader, registry, identityLimits(settings)),
        ...consoleRoutesOf(settings, state, reloader, registry, consoleRecords),
        ...adminRoutes,
      ],
      (error) => log.error({ err: error }, 'HTTP request failed'),
      undefined,
      limits,
      logDroppedHttp(log, limits),
    );
  } catch (error) {
    grpc.forceClose();
    reloader.stop();
    throw new StartError(1, `cannot start the HTTP listener: ${(error as Error).message}`);
  }
  log.info(
    {
      listener: 'http',
      address: `${settings.httpAddress.host}:${http.port}`,
      port: http.port,
      maxConnections: http.maxConnections,
    },
    'listening',
  );
  logAdminWriters(settings, state, log);

  let stopping: Promise<void> | undefined;
  return {
    state,
    registry,
    reloader,
    grpc,
    http,
    revocations,
    stop() {
      stopping ??= (async () => {
        const deadline = performance.now() + settings.shutdownGraceMs;
        // First: no reload may start a loader thread again, and queued admin writes answer 503.
        reloader.stop();
        revocations?.close();
        state.drain();
        log.info({ graceMs: settings.shutdownGraceMs }, 'draining');
        await grpc.shutdown(callGrace(settings.shutdownGraceMs));
        await http.close(callGrace(deadline - performance.now()));
        await decisionLog.close();
        log.info('stopped');
      })();
      return stopping;
    },
  };
}

/** What is left for closing listeners and flushing logs after the calls in flight had their grace. */
const CLOSING_RESERVE_MS = 200;

/** The part of `--shutdown-grace` calls in flight may use; the rest is for closing and flushing. */
export function callGrace(graceMs: number): number {
  return Math.max(0, graceMs - Math.min(CLOSING_RESERVE_MS, graceMs / 4));
}

/**
 * Ends the process with `code` once the logs are flushed, waiting at most until `deadline`
 * (performance.now() time): a stderr or stdout nobody reads must not hold the exit.
 */
export async function exitAfterFlush(
  log: Logger,
  code: number,
  deadline = performance.now() + 1000,
): Promise<never> {
  const left = (): number => Math.max(20, deadline - performance.now());
  await flushLog(log, left());
  await flushStdout(left());
  process.exit(code);
}

/**
 * From the first SIGTERM/SIGINT: exit 0 no later than `--shutdown-grace`, whatever still runs
 * (idle streams, a loader thread, a stalled log).
 */
export function exitDeadline(graceMs: number): number {
  const deadline = performance.now() + graceMs;
  setTimeout(() => process.exit(0), graceMs).unref();
  return deadline;
}

/** `--token-signing-key`, read once at start-up; an unusable key is bad usage (exit 2). */
export async function openSigningKey(settings: Settings): Promise<SigningKey | undefined> {
  if (settings.tokenSigningKey === undefined) return undefined;
  try {
    return await loadSigningKey(settings.tokenSigningKey);
  } catch (error) {
    if (error instanceof SigningKeyError) throw new StartError(EXIT_USAGE, error.message);
    throw error;
  }
}

/** `--token-revocation-list`, read once now and again on changes; an unreadable file is bad usage (exit 2). */
export async function openRevocationList(
  settings: Settings,
  log: Logger,
): Promise<RevocationList | undefined> {
  if (settings.tokenRevocationList === undefined) return undefined;
  try {
    return await RevocationList.open(settings.tokenRevocationList, log, {
      resyncIntervalMs: settings.resyncIntervalMs,
      stabilityWindowMs: settings.reloadStabilityWindowMs,
    });
  } catch (error) {
    throw new StartError(
      EXIT_USAGE,
      `cannot read --token-revocation-list ${settings.tokenRevocationList}: ${(error as Error).message}`,
    );
  }
}

/**
 * `--admin-state-dir`: created if needed, proved writable and cleaned of a crash's temp files
 * before the first load; a directory that cannot hold files is bad usage (exit 2).
 */
export async function openAdminStore(settings: Settings): Promise<AdminStore | undefined> {
  if (settings.adminStateDir === undefined) return undefined;
  try {
    return await AdminStore.open(settings.adminStateDir);
  } catch (error) {
    throw new StartError(
      EXIT_USAGE,
      `cannot open --admin-state-dir ${settings.adminStateDir}: ${(error as Error).message}`,
    );
  }
}
