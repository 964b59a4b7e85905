/**
 * Shadow policies (SPEC §6.4): MTPs labelled `kuma.io/effect: shadow` are never enforced. Every
 * request is also decided on a second table compiled with them included, and the two answers are
 * compared by allowed-ness: a change is counted (`mtp_authz_shadow_policy_checks_total`) and logged,
 * the enforced answer is sent unchanged.
 */
import { decide } from './decision/decide.js';
import type { DecisionTable } from './decision/table.js';
import type { Client, Decision, Destination, Via } from './decision/types.js';
import { compilePolicySet, isShadowPolicy } from './policy/compile.js';
import type { Action, PolicySet } from './policy/types.js';

export type ShadowOutcome = 'same' | 'would_allow' | 'would_deny';

/** What the decision log adds to a line when the shadow answer differs. */
export interface ShadowDifference {
  readonly outcome: Exclude<ShadowOutcome, 'same'>;
  readonly action: Action;
  readonly via: Via;
  readonly policy: string | null;
  readonly fromIndex: number | null;
}

export interface ShadowResult {
  readonly outcome: ShadowOutcome;
  /** The answer with shadow policies enforced. */
  readonly shadow: Decision;
  /** Null when the outcome is `same`. */
  readonly difference: ShadowDifference | null;
}

/** Allow and AllowWithShadowDeny let the request through; Deny does not. */
export function isAllowed(action: Action): boolean {
  return action !== 'Deny';
}

export function hasShadowPolicies(set: PolicySet): boolean {
  return set.policies.some(isShadowPolicy);
}

/** The table of the shadow evaluation, or undefined when the set has no shadow policy (no work). */
export function compileShadowTable(set: PolicySet, generation: number): DecisionTable | undefined {
  return hasShadowPolicies(set) ? compilePolicySet(set, { generation, includeShadow: true }) : undefined;
}

export function shadowOutcome(enforced: Decision, shadow: Decision): ShadowOutcome {
  const before = isAllowed(enforced.action);
  const after = isAllowed(shadow.action);
  if (before === after) return 'same';
  return after ? 'would_allow' : 'would_deny';
}

export function compareShadow(enforced: Decision, shadow: Decision): ShadowResult {
  const outcome = shadowOutcome(enforced, shadow);
  if (outcome === 'same') return { outcome, shadow, difference: null };
  return {
    outcome,
    shadow,
    difference: {
      outcome,
      action: shadow.action,
      via: shadow.via,
      policy: shadow.decidedBy?.policy ?? null,
      fromIndex: shadow.decidedBy?.fromIndex ?? null,
    },
  };
}

/** Decides the request again on the shadow table and compares; the enforced decision is untouched. */
export function evaluateShadow(
  shadowTable: DecisionTable,
  destination: Destination | undefined,
  client: Client,
  enforced: Decision,
): ShadowResult {
  return compareShadow(enforced, decide(shadowTable, destination, client));
}
