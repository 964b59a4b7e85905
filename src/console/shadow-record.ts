/**
 * What the shadow policies (SPEC §6.4) would change, per shadow policy: how many checks it took
 * part in by outcome (same / would_allow / would_deny) and the last few differing requests as
 * decision log lines. A check counts for a shadow policy when the shadow evaluation selected that
 * policy for the inbound. Bounded: a few examples per policy, records only for the shadow
 * policies of the serving set (pruned on reload).
 */
import type { DecisionLogEntry } from '../observability/decision-log.js';
import { lineOf } from '../observability/decision-log.js';
import { decisionLabel } from '../observability/metrics.js';
import { EFFECT_LABEL, type PolicySet } from '../policy/types.js';
import type { ShadowOutcome, ShadowResult } from '../decision/shadow.js';

export const SHADOW_EXAMPLES_PER_POLICY = 5;

interface Example {
  readonly at: number;
  readonly entry: DecisionLogEntry;
}

interface PolicyRecord {
  readonly counts: Record<ShadowOutcome, number>;
  /** Newest last; at most SHADOW_EXAMPLES_PER_POLICY. */
  readonly examples: Example[];
}

export interface ShadowPolicySummary {
  readonly mesh: string;
  readonly name: string;
  readonly file: string;
  readonly counts: Readonly<Record<ShadowOutcome, number>>;
  /** Newest first, decision log lines with their `shadow` difference. */
  readonly examples: readonly Record<string, unknown>[];
}

/** mesh → names of its shadow policies, per policy set. */
const shadowNames = new WeakMap<PolicySet, ReadonlyMap<string, ReadonlySet<string>>>();

export function shadowPoliciesOf(set: PolicySet): ReadonlyMap<string, ReadonlySet<string>> {
  let byMesh = shadowNames.get(set);
  if (byMesh === undefined) {
    const built = new Map<string, Set<string>>();
    for (const policy of set.policies) {
      if (policy.labels[EFFECT_LABEL] !== 'shadow') continue;
      let names = built.get(policy.mesh);
      if (names === undefined) built.set(policy.mesh, (names = new Set()));
      names.add(policy.name);
    }
    byMesh = built;
    shadowNames.set(set, byMesh);
  }
  return byMesh;
}

const keyOf = (mesh: string, name: string): string => `${mesh}\u0000${name}`;

export class ShadowRecord {
  readonly #records = new Map<string, PolicyRecord>();
  readonly #now: () => number;
  #set: PolicySet | undefined;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** One check decided with shadow policies; `example` builds its log entry, only when it differs. */
  observe(
    set: PolicySet,
    mesh: string | undefined,
    result: ShadowResult,
    example: () => DecisionLogEntry,
  ): void {
    if (set !== this.#set) this.#prune(set);
    if (mesh === undefined) return;
    const names = shadowPoliciesOf(set).get(mesh);
    if (names === undefined) return;
    let entry: Example | undefined;
    for (const name of result.shadow.policies) {
      if (!names.has(name)) continue;
      const key = keyOf(mesh, name);
      let record = this.#records.get(key);
      if (record === undefined) {
        record = { counts: { same: 0, would_allow: 0, would_deny: 0 }, examples: [] };
        this.#records.set(key, record);
      }
      record.counts[result.outcome]++;
      if (result.outcome === 'same') continue;
      entry ??= { at: this.#now(), entry: example() };
      record.examples.push(entry);
      if (record.examples.length > SHADOW_EXAMPLES_PER_POLICY) record.examples.shift();
    }
  }

  /** Every shadow policy of `set`, with what was recorded for it (zeros when nothing yet). */
  summary(set: PolicySet): ShadowPolicySummary[] {
    if (set !== this.#set) this.#prune(set);
    return set.policies
      .filter((policy) => policy.labels[EFFECT_LABEL] === 'shadow')
      .map((policy) => {
        const record = this.#records.get(keyOf(policy.mesh, policy.name));
        return {
          mesh: policy.mesh,
          name: policy.name,
          file: policy.source.file,
          counts: { ...(record?.counts ?? { same: 0, would_allow: 0, would_deny: 0 }) },
          examples: (record?.examples ?? [])
            .map(({ at, entry }) => ({
              time: new Date(at).toISOString(),
              ...lineOf(decisionLabel(entry.decision.action), entry),
            }))
            .reverse(),
        };
      });
  }

  /** A new policy set: keep the records of policies that are still shadow policies, drop the rest. */
  #prune(set: PolicySet): void {
    this.#set = set;
    const current = shadowPoliciesOf(set);
    for (const key of this.#records.keys()) {
      const [mesh = '', name = ''] = key.split('\u0000');
      if (current.get(mesh)?.has(name) !== true) this.#records.delete(key);
    }
  }
}
