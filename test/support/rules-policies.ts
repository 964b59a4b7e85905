/** Builders for `spec.rules` policies (Kuma 2.12+), beside the from builders of policies.ts. */
import type { MeshTrafficPermission, MtpRule, RuleMatch, TargetRef } from '../../src/policy/types.js';

const SOURCE = { file: 'test.yaml', line: 1, col: 1 };

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
    type: 'MeshTrafficPermission',
    name,
    mesh: options.mesh ?? 'default',
    labels: options.labels ?? {},
    form: 'universal',
    source: SOURCE,
    targetRef,
    from: [],
    rules,
    ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
  };
}
