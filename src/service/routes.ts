/**
 * The HTTP port's routes and limits, built from the settings over the parts a process serves:
 * observability (/metrics, /policies, /explain), the console and the admin API.
 */
import { Registry } from 'prom-client';
import { createAuditLog } from '../admin/audit.js';
import { builtinDefaultBinding } from '../admin/builtins.js';
import { createAdminRoutes } from '../admin/routes.js';
import { RevocationList } from '../admin/revocations.js';
import type { ResourceStore } from '../admin/resource-store.js';
import { describeWriters } from '../admin/writers.js';
import { type SigningKey, tokenVerifier } from '../admin/tokens.js';
import { loadUiAssets } from '../console/assets.js';
import { consoleRoutes } from '../console/routes.js';
import { DEFAULT_IDENTITY_LIMITS, type IdentityLimits } from '../decision/identity.js';
import type { Route } from '../http/router.js';
import { explainLimits } from '../http/explain-request.js';
import { ExplainThread } from '../http/explain-thread.js';
import { type ObservabilityContext, observabilityRoutes } from '../observability/routes.js';
import { type HttpLimits } from '../http/server.js';
import { type Logger } from '../observability/log.js';
import { type Metrics } from '../observability/metrics.js';
import { httpConnectionCap, softOpenFileLimit } from '../http/open-files.js';
import { type ReloadOutcome } from '../policy/reload.js';
import type { Settings } from '../settings/settings.js';
import { ServiceState } from '../authz/state.js';
import type { ConsoleRecords } from './assemble.js';

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
  reloader: { readonly stale: boolean; readonly storeVersion?: number | undefined },
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
      if (current === undefined) return undefined;
      const storeVersion = reloader.storeVersion;
      return { ...current, stale: reloader.stale, ...(storeVersion === undefined ? {} : { storeVersion }) };
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
    readonly store: ResourceStore | undefined;
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
