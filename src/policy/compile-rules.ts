/**
 * The compile-time side of Kuma 2.12+ MeshTrafficPermissions: `spec.rules` into the rules the
 * hot path reads, and top-level `Dataplane` targetRefs into selectors over destination tags.
 */
import type { CompiledRule } from '../decision/rules.js';
import type { Selector } from '../decision/table.js';
import type { MeshTrafficPermission, TargetRef } from './types.js';

/**
 * Destination tags a Dataplane targetRef is matched against: its name and namespace as Kuma labels
 * every Dataplane, its labels as they are, and the inbound's section name under a tag of our own.
 */
export const DATAPLANE_NAME_TAG = 'kuma.io/display-name';
export const DATAPLANE_NAMESPACE_TAG = 'k8s.kuma.io/namespace';
export const SECTION_NAME_TAG = 'mtp.section-name';

export function compileRules(policy: MeshTrafficPermission): CompiledRule[] | undefined {
  return policy.rules?.map((rule, ruleIndex) => ({ policy: policy.name, ruleIndex, ...rule }));
}

/** The inbound tags a top-level Dataplane targetRef requires (none: every sidecar inbound). */
export function dataplaneSelector(policy: MeshTrafficPermission): Selector {
  const ref = policy.targetRef;
  const keys: string[] = [];
  const values: string[] = [];
  const add = (key: string, value: string): void => {
    keys.push(key);
    values.push(value);
  };
  if (ref.name !== undefined) {
    add(DATAPLANE_NAME_TAG, ref.name);
    // Kuma resolves a name without namespace in the policy's own namespace.
    const namespace = ref.namespace ?? policy.namespace;
    if (namespace !== undefined) add(DATAPLANE_NAMESPACE_TAG, namespace);
  } else if (ref.namespace !== undefined) add(DATAPLANE_NAMESPACE_TAG, ref.namespace);
  for (const [key, value] of Object.entries(ref.labels ?? {})) add(key, value);
  if (ref.sectionName !== undefined) add(SECTION_NAME_TAG, ref.sectionName);
  return { keys, values };
}

/**
 * Kuma's tie-break between two Dataplane targetRefs (CompareDataplaneKind): by labels before by
 * name, then without a section name before with one. Other pairs: 0.
 */
export function compareDataplaneTargets(a: TargetRef, b: TargetRef): number {
  if (a.kind !== 'Dataplane' || b.kind !== 'Dataplane') return 0;
  if (a.name !== undefined && b.labels !== undefined) return 1;
  if (a.labels !== undefined && b.name !== undefined) return -1;
  if (a.sectionName !== undefined && b.sectionName === undefined) return 1;
  if (a.sectionName === undefined && b.sectionName !== undefined) return -1;
  return 0;
}
