/** Builders for `spec.rules` policies (Kuma 2.12+), beside the from builders of policies.ts. */
import type { MeshTrafficPermission, MtpRule, RuleMatch, TargetRef } from '../../src/policy/types.js';
import { mtp } from './policies.js';

export const exact = (value: string): RuleMatch => ({ spiffeID: { type: 'Exact', value } });
export const prefix = (value: string): RuleMatch => ({ spiffeID: { type: 'Prefix', value } });
export const sni = (value: string): RuleMatch => ({ sni: { type: 'Exact', value } });

export function rule(lists: Partial<MtpRule>): MtpRule {
  return {
    deny: lists.deny ?? [],
    allowWithShadowDeny: lists.allowWithShadowDeny ?? [],
    allow: lists.allow ?? [],
  };
}

export function rulesMtp(
  name: string,
  targetRef: TargetRef,
  rules: readonly MtpRule[],
  options: { mesh?: string; labels?: Record<string, string>; namespace?: string } = {},
): MeshTrafficPermission {
  return {
    ...mtp(name, targetRef, [], options),
    rules,
    ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
  };
}
