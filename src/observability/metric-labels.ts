/**
 * What the metrics promise outside this process: their names (SPEC §6.2, the README), their
 * bounded label values, the series pre-created per mesh, and the interface the hot path records
 * through. metrics.ts keeps them up to date on a registry.
 */
import { type Registry } from 'prom-client';
import type { DecisionTable } from '../decision/table.js';
import { type Via } from '../decision/types.js';
import { type Action } from '../decision/types.js';
import type { PolicySet } from '../policy/types.js';
import type { ShadowOutcome } from '../decision/shadow.js';

export const OTHER_MESH = 'other';
/** Mesh label values (with `other`) of every mesh-labelled metric. */
export const DEFAULT_MAX_MESHES = 100;
export const DECISION_LABELS = ['allow', 'deny', 'shadow_deny'] as const;
export type DecisionLabel = (typeof DECISION_LABELS)[number];
export const CACHES = ['decision', 'identity'] as const;
export type CacheName = (typeof CACHES)[number];
export const SHADOW_OUTCOMES = ['same', 'would_allow', 'would_deny'] as const;
/** Why a Check was refused with a gRPC error (src/authz/refusals.ts and the Check callback). */
export const CHECK_ERROR_CODES = ['malformed', 'oversized', 'unimplemented', 'unavailable'] as const;
export type CheckErrorCode = (typeof CHECK_ERROR_CODES)[number];

/** 10 µs … 100 ms, 1-2.5-5 steps: the engine answers in microseconds, a GC pause takes milliseconds. */
export const CHECK_DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
]);

export const METRIC_NAMES = Object.freeze({
  checks: 'mtp_authz_checks_total',
  checkDuration: 'mtp_authz_check_duration_seconds',
  cacheLookups: 'mtp_authz_cache_lookups_total',
  cacheEntries: 'mtp_authz_cache_entries',
  reloads: 'mtp_authz_policy_reloads_total',
  generation: 'mtp_authz_policy_generation',
  policies: 'mtp_authz_policies',
  lastReloadSuccess: 'mtp_authz_policy_last_reload_success_timestamp_seconds',
  stale: 'mtp_authz_policy_stale',
  shadowChecks: 'mtp_authz_shadow_policy_checks_total',
  adminRequests: 'mtp_authz_admin_requests_total',
  changedWhileReading: 'mtp_authz_policy_file_changed_while_reading_total',
  logDropped: 'mtp_authz_log_lines_dropped_total',
  checkErrors: 'mtp_authz_check_errors_total',
  identityIgnoredSans: 'mtp_authz_identity_ignored_sans_total',
  identityTooManySans: 'mtp_authz_identity_too_many_sans_total',
});

/** What the logs dropped so far (log.ts, stdout.ts): read at every scrape. */
export interface LogDropCounts {
  readonly operationalRateLimited: number;
  readonly operationalBufferFull: number;
  readonly stdoutBufferFull: number;
}

export const DECISION_OF: Readonly<Record<Action, DecisionLabel>> = {
  Allow: 'allow',
  Deny: 'deny',
  AllowWithShadowDeny: 'shadow_deny',
};

export function decisionLabel(action: Action): DecisionLabel {
  return DECISION_OF[action];
}

/** The decision × via pairs decide() can produce for a mesh the policies name. */
export const KNOWN_MESH_SERIES: readonly (readonly [Action, Via])[] = [
  ['Allow', 'rule'],
  ['Allow', 'mtls-disabled'],
  ['Allow', 'permissive-plaintext'],
  ['AllowWithShadowDeny', 'rule'],
  ['Deny', 'rule'],
  ['Deny', 'no-matching-from'],
  ['Deny', 'no-matching-rule'],
  ['Deny', 'no-policy'],
  ['Deny', 'no-identity'],
  ['Deny', 'mesh-mismatch'],
  ['Deny', 'invalid-identity'],
  ['Deny', 'identity-too-complex'],
];
/** …and for `other`: an unknown mesh is STRICT without policies; no destination has no mesh at all. */
export const OTHER_MESH_SERIES: readonly (readonly [Action, Via])[] = [
  ['Deny', 'no-policy'],
  ['Deny', 'no-identity'],
  ['Deny', 'mesh-mismatch'],
  ['Deny', 'invalid-identity'],
  ['Deny', 'no-destination'],
];

/**
 * The `mesh` label of a request: the destination's mesh when the live policies (or a Mesh document)
 * name it, else `other`, so a request naming random meshes cannot create series.
 */
export function meshLabel(table: DecisionTable | undefined, mesh: string | undefined): string {
  return mesh !== undefined && table?.knowsMesh(mesh) === true ? mesh : OTHER_MESH;
}

export interface MetricsOptions {
  /** Register prom-client's Node process metrics too (default true). */
  readonly defaultMetrics?: boolean;
  /**
   * Distinct mesh label values kept before new ones count as `other` (default 100, `other`
   * included): each mesh brings 13 pre-zeroed series, and a scrape must stay far below 50 ms.
   */
  readonly maxMeshes?: number;
  /** Wall clock in milliseconds, for the last-reload timestamp (default Date.now). */
  readonly now?: () => number;
}

export interface Metrics {
  readonly registry: Registry;
  /** One Check: its mesh label (see meshLabel), enforced action, via, and handler time. */
  recordCheck(mesh: string, action: Action, via: Via, seconds: number): void;
  recordCacheLookup(cache: CacheName, hit: boolean): void;
  setCacheEntries(cache: CacheName, entries: number): void;
  /** Reads the cache size at every scrape instead (replaces setCacheEntries for that cache). */
  trackCacheEntries(cache: CacheName, read: () => number): void;
  /**
   * A reload attempt. Success: generation, timestamp, policies per mesh, stale = 0, and the meshes
   * of `set` get pre-zeroed series. Failure: counted, and stale = 1 when a policy set was loaded
   * successfully before (older policies keep serving).
   */
  recordReload(ok: true, generation: number, set: PolicySet): void;
  recordReload(ok: false): void;
  setStale(stale: boolean): void;
  recordShadow(mesh: string, outcome: ShadowOutcome): void;
  recordAdminRequest(method: string, code: number): void;
  /** A policy load whose files changed while they were read (it is read again). */
  recordChangedWhileReading(): void;
  /** Reads the logs' drop counts at every scrape. */
  trackLogDrops(read: () => LogDropCounts): void;
  /** A Check refused with a gRPC error instead of answered (never a decision). */
  recordCheckError(code: CheckErrorCode): void;
  /** One Check's client: URI SANs that added nothing, and whether it had more than allowed. */
  recordIdentity(ignoredSans: number, tooManySans: boolean): void;
}
