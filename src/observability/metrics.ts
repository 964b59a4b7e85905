/**
 * Every metric of SPEC §6.2, on a registry passed in (never prom-client's global one).
 *
 * The Check path must not pay prom-client's per-call price (a label hash, a validation pass and a
 * few objects per `inc`/`observe`, ~350 ns together). So the hot-path methods only bump numbers in
 * typed arrays — a Map lookup of the mesh label and two array writes — and the registry is brought
 * up to date when it is read: every counter's `collect` hook pushes the pending counts, once per
 * scrape. Label values are bounded: meshes the policies do not name are `other`, and past
 * `maxMeshes` distinct meshes everything new is `other` too.
 *
 * Under `--workers` the primary sums the workers' registries: counters and histograms add up, the
 * gauges that describe the policy set (generation, policies, staleness, last load) take the largest.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, type Registry } from 'prom-client';
import { ACTIONS, type Action, VIAS, type Via } from '../decision/types.js';
import type { PolicySet } from '../policy/types.js';
import type { ShadowOutcome } from '../decision/shadow.js';
import {
  type CacheName,
  CACHES,
  CHECK_DURATION_BUCKETS,
  CHECK_ERROR_CODES,
  type CheckErrorCode,
  DECISION_OF,
  DEFAULT_MAX_MESHES,
  KNOWN_MESH_SERIES,
  type LogDropCounts,
  METRIC_NAMES,
  type Metrics,
  type MetricsOptions,
  OTHER_MESH,
  OTHER_MESH_SERIES,
  SHADOW_OUTCOMES,
} from './metric-labels.js';

export * from './metric-labels.js';

const ACTION_INDEX: Readonly<Record<Action, number>> = { Allow: 0, Deny: 1, AllowWithShadowDeny: 2 };
const VIA_INDEX = Object.fromEntries(VIAS.map((via, i) => [via, i])) as Readonly<Record<Via, number>>;
const OUTCOME_INDEX: Readonly<Record<ShadowOutcome, number>> = { same: 0, would_allow: 1, would_deny: 2 };
const CHECK_SLOTS = ACTIONS.length * VIAS.length;
/** Per mesh: every action × via, then the shadow outcomes. */
const MESH_SLOTS = CHECK_SLOTS + SHADOW_OUTCOMES.length;
const ADMIN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export function createMetrics(registry: Registry, options: MetricsOptions = {}): Metrics {
  return new PromMetrics(registry, options);
}

class PromMetrics implements Metrics {
  readonly registry: Registry;
  readonly #now: () => number;
  readonly #maxMeshes: number;

  readonly #checks: Counter<'mesh' | 'decision' | 'via'>;
  readonly #duration: Histogram;
  readonly #cacheLookups: Counter<'cache' | 'result'>;
  readonly #cacheEntries: Gauge<'cache'>;
  readonly #reloads: Counter<'result'>;
  readonly #generation: Gauge;
  readonly #policies: Gauge<'mesh'>;
  readonly #lastReloadSuccess: Gauge;
  readonly #stale: Gauge;
  readonly #shadow: Counter<'mesh' | 'outcome'>;
  readonly #admin: Counter<'method' | 'code'>;
  readonly #changedWhileReading: Counter;
  readonly #logDropped: Counter<'log' | 'reason'>;
  #logDropReader: (() => LogDropCounts) | undefined;
  #logDropsSeen: LogDropCounts = { operationalRateLimited: 0, operationalBufferFull: 0, stdoutBufferFull: 0 };
  readonly #checkErrors: Counter<'code'>;
  readonly #ignoredSans: Counter;
  readonly #tooManySans: Counter;

  /** Mesh label → offset of its block in #pending; insertion order gives the block order. */
  readonly #meshSlots = new Map<string, number>();
  #pending = new Float64Array(0);
  /** Counts since the last scrape per bucket (last slot: over the largest bound), plus sum. */
  readonly #bucketPending = new Float64Array(CHECK_DURATION_BUCKETS.length + 1);
  #sumPending = 0;
  readonly #cachePending = new Float64Array(CACHES.length * 2);
  readonly #cacheReaders = new Map<CacheName, () => number>();
  #loadedOnce = false;
  #ignoredSansPending = 0;
  #tooManySansPending = 0;

  constructor(registry: Registry, options: MetricsOptions) {
    this.registry = registry;
    this.#now = options.now ?? Date.now;
    this.#maxMeshes = options.maxMeshes ?? DEFAULT_MAX_MESHES;
    const registers = [registry];
    const flush = (): void => this.#flush();

    this.#checks = new Counter({
      name: METRIC_NAMES.checks,
      help: 'Check requests answered, by destination mesh, decision and the reason (via) of SPEC §2.3.',
      labelNames: ['mesh', 'decision', 'via'],
      registers,
      collect: flush,
    });
    this.#duration = new Histogram({
      name: METRIC_NAMES.checkDuration,
      help: 'Time spent in the Check handler, from decoded request to encoded answer, in seconds.',
      buckets: [...CHECK_DURATION_BUCKETS],
      registers,
      collect: flush,
    });
    this.#cacheLookups = new Counter({
      name: METRIC_NAMES.cacheLookups,
      help: 'Cache lookups by cache (decision, identity) and result (hit, miss).',
      labelNames: ['cache', 'result'],
      registers,
      collect: flush,
    });
    this.#cacheEntries = new Gauge({
      name: METRIC_NAMES.cacheEntries,
      help: 'Entries currently held by each cache.',
      labelNames: ['cache'],
      registers,
      collect: () => {
        for (const [cache, read] of this.#cacheReaders) this.#cacheEntries.set({ cache }, read());
      },
    });
    this.#reloads = new Counter({
      name: METRIC_NAMES.reloads,
      help: 'Policy reload attempts by result (success, failure); the start-up load counts too.',
      labelNames: ['result'],
      registers,
    });
    this.#generation = new Gauge({
      name: METRIC_NAMES.generation,
      help: 'Generation of the policy set serving requests; every successful reload increments it.',
      registers,
      aggregator: 'max',
    });
    this.#policies = new Gauge({
      name: METRIC_NAMES.policies,
      help: 'MeshTrafficPermission policies loaded, by mesh (shadow policies included).',
      labelNames: ['mesh'],
      registers,
      aggregator: 'max',
    });
    this.#lastReloadSuccess = new Gauge({
      name: METRIC_NAMES.lastReloadSuccess,
      help: 'Unix time of the last successful policy load, in seconds.',
      registers,
      aggregator: 'max',
    });
    this.#stale = new Gauge({
      name: METRIC_NAMES.stale,
      help: '1 while the newest policy files failed to load and older policies serve, else 0.',
      registers,
      aggregator: 'max',
    });
    this.#shadow = new Counter({
      name: METRIC_NAMES.shadowChecks,
      help: 'Checks also decided with shadow policies (kuma.io/effect: shadow), by how the answer would change.',
      labelNames: ['mesh', 'outcome'],
      registers,
      collect: flush,
    });
    this.#admin = new Counter({
      name: METRIC_NAMES.adminRequests,
      help: 'HTTP requests to the admin and observability API, by method and status code.',
      labelNames: ['method', 'code'],
      registers,
    });
    this.#changedWhileReading = new Counter({
      name: METRIC_NAMES.changedWhileReading,
      help: 'Policy loads not used because a file changed while it was read (it is read again once it settles).',
      registers,
    });
    this.#logDropped = new Counter({
      name: METRIC_NAMES.logDropped,
      help: 'Log lines not written: log operational (stderr) or stdout (decisions, audit); reason rate_limit or buffer_full.',
      labelNames: ['log', 'reason'],
      registers,
      collect: () => this.#collectLogDrops(),
    });
    this.#logDropped.inc({ log: 'operational', reason: 'rate_limit' }, 0);
    this.#logDropped.inc({ log: 'operational', reason: 'buffer_full' }, 0);
    this.#logDropped.inc({ log: 'stdout', reason: 'buffer_full' }, 0);
    this.#checkErrors = new Counter({
      name: METRIC_NAMES.checkErrors,
      help: 'Check calls refused with a gRPC error instead of answered, by code: malformed (INVALID_ARGUMENT), oversized (RESOURCE_EXHAUSTED), unimplemented (a method not served), unavailable (no policy set loaded).',
      labelNames: ['code'],
      registers,
    });
    for (const code of CHECK_ERROR_CODES) this.#checkErrors.inc({ code }, 0);
    this.#ignoredSans = new Counter({
      name: METRIC_NAMES.identityIgnoredSans,
      help: 'URI SANs of Check clients that added nothing to the identity (not an exact spiffe:// or kuma:// form), per Check.',
      registers,
      collect: flush,
    });
    this.#tooManySans = new Counter({
      name: METRIC_NAMES.identityTooManySans,
      help: 'Checks denied (invalid-identity) because the client certificate had more URI SANs than --max-certificate-sans.',
      registers,
      collect: flush,
    });
    histogramSeries(this.#duration);
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });

    for (const result of ['success', 'failure']) this.#reloads.inc({ result }, 0);
    for (const cache of CACHES) {
      for (const result of ['hit', 'miss']) this.#cacheLookups.inc({ cache, result }, 0);
      this.#cacheEntries.set({ cache }, 0);
    }
    this.#stale.set(0);
    this.#meshSlot(OTHER_MESH);
  }

  recordCheck(mesh: string, action: Action, via: Via, seconds: number): void {
    const base = this.#meshSlots.get(mesh) ?? this.#meshSlot(mesh);
    bump(this.#pending, base + ACTION_INDEX[action] * VIAS.length + VIA_INDEX[via]);
    if (!(seconds >= 0)) return;
    const bounds = CHECK_DURATION_BUCKETS;
    let b = 0;
    while (b < bounds.length && seconds > (bounds[b] as number)) b++;
    bump(this.#bucketPending, b);
    this.#sumPending += seconds;
  }

  recordCacheLookup(cache: CacheName, hit: boolean): void {
    bump(this.#cachePending, (cache === 'decision' ? 0 : 2) + (hit ? 0 : 1));
  }

  setCacheEntries(cache: CacheName, entries: number): void {
    this.#cacheReaders.delete(cache);
    this.#cacheEntries.set({ cache }, entries);
  }

  trackCacheEntries(cache: CacheName, read: () => number): void {
    this.#cacheReaders.set(cache, read);
  }

  recordReload(ok: boolean, generation?: number, set?: PolicySet): void {
    if (!ok || generation === undefined || set === undefined) {
      this.#reloads.inc({ result: 'failure' });
      if (this.#loadedOnce) this.#stale.set(1);
      return;
    }
    this.#loadedOnce = true;
    this.#reloads.inc({ result: 'success' });
    this.#generation.set(generation);
    this.#lastReloadSuccess.set(this.#now() / 1000);
    this.#stale.set(0);
    const counts = new Map<string, number>();
    for (const mesh of set.meshes) counts.set(mesh.name, 0);
    for (const policy of set.policies) counts.set(policy.mesh, (counts.get(policy.mesh) ?? 0) + 1);
    // The same bound as the Check metrics: a mesh past `maxMeshes` is counted under `other`.
    const labelled = new Map<string, number>();
    for (const [mesh, count] of counts) {
      this.#meshSlot(mesh);
      const label = this.#meshSlots.has(mesh) ? mesh : OTHER_MESH;
      labelled.set(label, (labelled.get(label) ?? 0) + count);
    }
    this.#policies.reset();
    for (const [mesh, count] of labelled) this.#policies.set({ mesh }, count);
  }

  recordChangedWhileReading(): void {
    this.#changedWhileReading.inc();
  }

  trackLogDrops(read: () => LogDropCounts): void {
    this.#logDropReader = read;
  }

  #collectLogDrops(): void {
    const now = this.#logDropReader?.();
    if (now === undefined) return;
    const seen = this.#logDropsSeen;
    const add = (log: string, reason: string, delta: number): void => {
      if (delta > 0) this.#logDropped.inc({ log, reason }, delta);
    };
    add('operational', 'rate_limit', now.operationalRateLimited - seen.operationalRateLimited);
    add('operational', 'buffer_full', now.operationalBufferFull - seen.operationalBufferFull);
    add('stdout', 'buffer_full', now.stdoutBufferFull - seen.stdoutBufferFull);
    this.#logDropsSeen = { ...now };
  }

  setStale(stale: boolean): void {
    this.#stale.set(stale ? 1 : 0);
  }

  recordShadow(mesh: string, outcome: ShadowOutcome): void {
    const base = this.#meshSlots.get(mesh) ?? this.#meshSlot(mesh);
    bump(this.#pending, base + CHECK_SLOTS + OUTCOME_INDEX[outcome]);
  }

  recordAdminRequest(method: string, code: number): void {
    const upper = method.toUpperCase();
    this.#admin.inc({ method: ADMIN_METHODS.has(upper) ? upper : 'OTHER', code: String(code) });
  }

  recordCheckError(code: CheckErrorCode): void {
    this.#checkErrors.inc({ code });
  }

  recordIdentity(ignoredSans: number, tooManySans: boolean): void {
    this.#ignoredSansPending += ignoredSans;
    if (tooManySans) this.#tooManySansPending++;
  }

  /** The block of `mesh`, created (and its series pre-zeroed) on first sight; `other` past the cap. */
  #meshSlot(mesh: string): number {
    const existing = this.#meshSlots.get(mesh);
    if (existing !== undefined) return existing;
    if (this.#meshSlots.size >= this.#maxMeshes) return this.#meshSlots.get(OTHER_MESH) ?? 0;
    const base = this.#meshSlots.size * MESH_SLOTS;
    const grown = new Float64Array(base + MESH_SLOTS);
    grown.set(this.#pending);
    this.#pending = grown;
    this.#meshSlots.set(mesh, base);
    const series = mesh === OTHER_MESH ? OTHER_MESH_SERIES : KNOWN_MESH_SERIES;
    for (const [action, via] of series) this.#checks.inc({ mesh, decision: DECISION_OF[action], via }, 0);
    for (const outcome of SHADOW_OUTCOMES) this.#shadow.inc({ mesh, outcome }, 0);
    return base;
  }

  /** Moves every count recorded since the last scrape into the prom-client metrics. */
  #flush(): void {
    const pending = this.#pending;
    for (const [mesh, base] of this.#meshSlots) {
      for (let a = 0; a < ACTIONS.length; a++) {
        for (let v = 0; v < VIAS.length; v++) {
          const i = base + a * VIAS.length + v;
          const n = pending[i] as number;
          if (n === 0) continue;
          pending[i] = 0;
          const decision = DECISION_OF[ACTIONS[a] as Action];
          this.#checks.inc({ mesh, decision, via: VIAS[v] as Via }, n);
        }
      }
      for (let o = 0; o < SHADOW_OUTCOMES.length; o++) {
        const i = base + CHECK_SLOTS + o;
        const n = pending[i] as number;
        if (n === 0) continue;
        pending[i] = 0;
        this.#shadow.inc({ mesh, outcome: SHADOW_OUTCOMES[o] as ShadowOutcome }, n);
      }
    }
    for (let c = 0; c < CACHES.length; c++) {
      for (let r = 0; r < 2; r++) {
        const n = this.#cachePending[c * 2 + r] as number;
        if (n === 0) continue;
        this.#cachePending[c * 2 + r] = 0;
        this.#cacheLookups.inc({ cache: CACHES[c] as CacheName, result: r === 0 ? 'hit' : 'miss' }, n);
      }
    }
    if (this.#ignoredSansPending > 0) this.#ignoredSans.inc(this.#ignoredSansPending);
    if (this.#tooManySansPending > 0) this.#tooManySans.inc(this.#tooManySansPending);
    this.#ignoredSansPending = 0;
    this.#tooManySansPending = 0;
    this.#flushDuration();
  }

  /**
   * prom-client has no call that adds n observations to a bucket, and replaying them one `observe`
   * at a time would cost a scrape milliseconds; so the pending counts are added to the histogram's
   * own series (its shape is checked at start-up by histogramSeries).
   */
  #flushDuration(): void {
    const series = histogramSeries(this.#duration);
    const pending = this.#bucketPending;
    let count = 0;
    for (let b = 0; b < pending.length; b++) {
      const n = pending[b] as number;
      if (n === 0) continue;
      count += n;
      pending[b] = 0;
      const bound = CHECK_DURATION_BUCKETS[b];
      // Over the largest bound: counted in +Inf (count) only, as prom-client does.
      if (bound !== undefined) series.bucketValues[bound] = (series.bucketValues[bound] ?? 0) + n;
    }
    series.count += count;
    series.sum += this.#sumPending;
    this.#sumPending = 0;
  }
}

function bump(counts: Float64Array, i: number): void {
  counts[i] = (counts[i] as number) + 1;
}

interface HistogramSeries {
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
}

/** The label-less series of a prom-client 15 Histogram; throws if that library's layout changed. */
function histogramSeries(histogram: Histogram): HistogramSeries {
  const series = (histogram as unknown as { hashMap?: Record<string, HistogramSeries> }).hashMap?.[''];
  if (series === undefined || typeof series.bucketValues !== 'object' || typeof series.count !== 'number') {
    throw new Error('prom-client Histogram layout changed: update metrics.ts #flushDuration');
  }
  return series;
}
