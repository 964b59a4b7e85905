/**
 * Shadow policies (SPEC §6.4): MTPs labelled `kuma.io/effect: shadow` are never enforced. Every
 * request is also decided on a second table compiled with them included, and the two answers are
 * compared by allowed-ness: a change is counted (`mtp_authz_shadow_policy_checks_total`) and logged,
 * the enforced answer is sent unchanged.
 */
import { ruleIndexOf } from './rules.js';
import type { Action, Decision, Via } from './types.js';

export type ShadowOutcome = 'same' | 'would_allow' | 'would_deny';

/** What the decision log adds to a line when the shadow answer differs. */
export interface ShadowDifference {
  readonly outcome: Exclude<ShadowOutcome, 'same'>;
  readonly action: Action;
  readonly via: Via;
  readonly policy: string | null;
  readonly fromIndex: number | null;
  /** Set when a `spec.rules` rule decided. */
  readonly ruleIndex?: number;
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
      ...ruleIndexField(shadow),
    },
  };
}

function ruleIndexField(decision: Decision): { ruleIndex?: number } {
  const ruleIndex = ruleIndexOf(decision.decidedBy);
  return ruleIndex === undefined ? {} : { ruleIndex };
}
