/**
 * The admin API's view of the serving policy set: the resources it manages, looked up by
 * (type, mesh, name), and their typed form turned back into the Universal form that GET answers
 * and PUT accepts. Built-in RBAC resources are part of this view unless a file redefines them.
 */
import type {
  AccessQualifier,
  AccessRole,
  AccessRoleBinding,
  AccessRule,
  AccessTargetRef,
  MeshTrafficPermission,
  MtpRule,
  PolicySet,
  TargetRef,
} from '../policy/types.js';
import { RULE_LISTS } from '../policy/types.js';
import { mergeBuiltins } from './builtins.js';
import type { StoredType } from './store.js';

export type ManagedResource = MeshTrafficPermission | AccessRole | AccessRoleBinding;

/** A plain object in the Universal form, ready for JSON. */
export type UniversalDocument = Record<string, unknown>;

/** Every resource of `type` (in `mesh`, for MeshTrafficPermission), built-ins included, by name. */
export function listResources(
  set: PolicySet,
  type: StoredType,
  mesh?: string,
  defaultBinding?: AccessRoleBinding,
): ManagedResource[] {
  const { roles, bindings } = mergeBuiltins(set.accessRoles, set.accessRoleBindings, defaultBinding);
  let found: ManagedResource[];
  if (type === 'MeshTrafficPermission') found = set.policies.filter((p) => p.mesh === mesh);
  else if (type === 'AccessRole') found = roles;
  else found = bindings;
  return found.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function findResource(
  set: PolicySet,
  type: StoredType,
  mesh: string | undefined,
  name: string,
  defaultBinding?: AccessRoleBinding,
): ManagedResource | undefined {
  return listResources(set, type, mesh, defaultBinding).find((r) => r.name === name);
}

/** The Universal form of a loaded resource (whichever form its file used). */
export function toUniversal(resource: ManagedResource): UniversalDocument {
  const labels = Object.keys(resource.labels).length > 0 ? { labels: { ...resource.labels } } : {};
  switch (resource.type) {
    case 'MeshTrafficPermission':
      return {
        type: resource.type,
        mesh: resource.mesh,
        name: resource.name,
        ...labels,
        spec:
          resource.rules === undefined
            ? {
                targetRef: topTargetRefDoc(resource),
                from: resource.from.map((entry) => ({
                  targetRef: targetRefDoc(entry.targetRef),
                  default: { action: entry.action },
                })),
              }
            : { targetRef: topTargetRefDoc(resource), rules: resource.rules.map(rulesRuleDoc) },
      };
    case 'AccessRole':
      return { type: resource.type, name: resource.name, ...labels, rules: resource.rules.map(ruleDoc) };
    case 'AccessRoleBinding':
      return {
        type: resource.type,
        name: resource.name,
        ...labels,
        subjects: resource.subjects.map((s) => ({ type: s.type, name: s.name })),
        roles: [...resource.roles],
      };
  }
}

function targetRefDoc(ref: TargetRef | AccessTargetRef): Record<string, unknown> {
  const doc: Record<string, unknown> = { kind: ref.kind };
  if (ref.name !== undefined) doc.name = ref.name;
  if (ref.tags !== undefined) doc.tags = { ...ref.tags };
  if ('proxyTypes' in ref && ref.proxyTypes !== undefined && ref.proxyTypes.length > 0)
    doc.proxyTypes = [...ref.proxyTypes];
  if ('namespace' in ref && ref.namespace !== undefined) doc.namespace = ref.namespace;
  if ('labels' in ref && ref.labels !== undefined) doc.labels = { ...ref.labels };
  if ('sectionName' in ref && ref.sectionName !== undefined) doc.sectionName = ref.sectionName;
  return doc;
}

/** The Universal form has no namespace: a Dataplane name keeps the one it was resolved in. */
function topTargetRefDoc(policy: MeshTrafficPermission): Record<string, unknown> {
  const doc = targetRefDoc(policy.targetRef);
  const ref = policy.targetRef;
  if (ref.kind === 'Dataplane' && ref.name !== undefined && ref.namespace === undefined && policy.namespace) {
    doc.namespace = policy.namespace;
  }
  return doc;
}

function rulesRuleDoc(rule: MtpRule): Record<string, unknown> {
  const conf: Record<string, unknown> = {};
  for (const list of RULE_LISTS) {
    if (rule[list].length > 0) conf[list] = rule[list].map((match) => ({ ...match }));
  }
  return { default: conf };
}

/** Empty `types` / `names` / `when` are left out: absent and empty mean the same. */
function ruleDoc(rule: AccessRule): Record<string, unknown> {
  const doc: Record<string, unknown> = {};
  if (rule.types.length > 0) doc.types = [...rule.types];
  if (rule.names.length > 0) doc.names = [...rule.names];
  if (rule.mesh !== undefined) doc.mesh = rule.mesh;
  doc.access = [...rule.access];
  if (rule.when.length > 0) doc.when = rule.when.map(qualifierDoc);
  return doc;
}

function qualifierDoc(q: AccessQualifier): Record<string, unknown> {
  const doc: Record<string, unknown> = {};
  if (q.targetRef !== undefined) doc.targetRef = targetRefDoc(q.targetRef);
  for (const side of ['from', 'to'] as const) {
    const value = q[side];
    if (value !== undefined)
      doc[side] = value.targetRef === undefined ? {} : { targetRef: targetRefDoc(value.targetRef) };
  }
  return doc;
}
