/**
 * Who may write what: Kong Mesh RBAC (SPEC §7.3) over the loaded AccessRoles and
 * AccessRoleBindings plus the built-ins. Pure functions; the routes decide what to check
 * (CREATE the new object, DELETE the stored one, UPDATE both).
 */
import type {
  AccessKind,
  AccessQualifier,
  AccessRole,
  AccessRoleBinding,
  AccessRule,
  AccessSubject,
  AccessTargetRef,
  MeshTrafficPermission,
  TargetRef,
} from '../policy/types.js';
import { ADMIN_GROUP, mergeBuiltins } from './builtins.js';
import { accessDenied, type Problem } from './problems.js';
import type { User } from './users.js';

export type AccessType = 'rbac' | 'static';

/** The `type` to authorize `POST /tokens/user` with (GENERATE_USER_TOKEN); a global type. */
export const USER_TOKEN_TYPE = 'UserToken';

/** Types that live outside any mesh: a rule naming a specific mesh never applies to them. */
const GLOBAL_TYPES: ReadonlySet<string> = new Set([
  'AccessRole',
  'AccessRoleBinding',
  'Mesh',
  USER_TOKEN_TYPE,
]);
const MTP = 'MeshTrafficPermission';

export interface AuthorizeRequest {
  readonly user: User;
  readonly verb: AccessKind;
  readonly type: string;
  /** The resource's mesh; omit for global types. */
  readonly mesh?: string;
  readonly name?: string;
  /** The MeshTrafficPermission the `when` qualifiers are checked against. */
  readonly resource?: MeshTrafficPermission;
}

export interface RbacConfig {
  readonly roles: readonly AccessRole[];
  readonly bindings: readonly AccessRoleBinding[];
  readonly accessType: AccessType;
  /** The built-in `default` binding (`--admin-default-binding`); authenticated callers if absent. */
  readonly defaultBinding?: AccessRoleBinding;
}

/**
 * True when one rule of one role bound to the user (directly or through a group) grants the
 * request. Built-ins are merged in here, so callers pass the loaded resources as they are.
 */
export function authorize(request: AuthorizeRequest, rbac: RbacConfig): boolean {
  // Lock-out recovery: roles and bindings are not consulted at all.
  if (rbac.accessType === 'static') return request.user.groups.includes(ADMIN_GROUP);
  const { roles, bindings } = mergeBuiltins(rbac.roles, rbac.bindings, rbac.defaultBinding);
  const granted = new Set<string>();
  for (const binding of bindings) {
    if (binding.subjects.some((s) => isSubject(s, request.user)))
      for (const r of binding.roles) granted.add(r);
  }
  return roles.some((role) => granted.has(role.name) && role.rules.some((rule) => ruleGrants(rule, request)));
}

/**
 * A write of `type`/`mesh`/`name`: CREATE checks `proposed`, DELETE `stored`, UPDATE both (each
 * must be granted on its own, so a user cannot move a policy out of, or into, their scope).
 */
export function authorizeWrite(
  request: Omit<AuthorizeRequest, 'resource' | 'verb'> & {
    readonly verb: 'CREATE' | 'UPDATE' | 'DELETE';
    readonly stored?: MeshTrafficPermission;
    readonly proposed?: MeshTrafficPermission;
  },
  rbac: RbacConfig,
): boolean {
  const { stored, proposed, ...rest } = request;
  const check = (resource: MeshTrafficPermission | undefined): boolean =>
    authorize(resource === undefined ? rest : { ...rest, resource }, rbac);
  if (request.verb === 'CREATE') return check(proposed);
  if (request.verb === 'DELETE') return check(stored);
  return check(stored) && check(proposed);
}

/** The 403 body: `user "NAME/GROUP1,GROUP2" cannot access the resource`. */
export function denial(user: User): Problem {
  return accessDenied(user);
}

function isSubject(subject: AccessSubject, user: User): boolean {
  return subject.type === 'User' ? subject.name === user.name : user.groups.includes(subject.name);
}

function ruleGrants(rule: AccessRule, request: AuthorizeRequest): boolean {
  if (!rule.access.includes(request.verb)) return false;
  if (rule.types.length > 0 && !rule.types.includes(request.type)) return false;
  if (rule.names.length > 0 && (request.name === undefined || !rule.names.includes(request.name)))
    return false;
  if (rule.mesh !== undefined && rule.mesh !== '' && rule.mesh !== '*') {
    const meshScoped = !GLOBAL_TYPES.has(request.type) && request.mesh !== undefined;
    if (!meshScoped || rule.mesh !== request.mesh) return false;
  }
  if (rule.when.length === 0) return true;
  // Qualifiers describe targetRef policies; here only MeshTrafficPermission has them.
  if (request.type !== MTP || request.resource === undefined) return false;
  return isCovered(request.resource, rule.when);
}

/**
 * Each from entry needs its own qualifier. A policy without from entries (invalid anyway) is
 * not covered vacuously: at least one qualifier must still accept its top-level targetRef.
 */
function isCovered(policy: MeshTrafficPermission, when: readonly AccessQualifier[]): boolean {
  // A `to` qualifier is for policies with a `to` list; it never matches a MeshTrafficPermission.
  const usable = when.filter((q) => q.to === undefined && acceptsTarget(q, policy.targetRef));
  // A `spec.rules` policy has no from list: only a qualifier that leaves `from` open covers it
  // (a `from` qualifier limits which clients its holder may write about; rules name any client).
  if (policy.rules !== undefined) return usable.some((q) => q.from === undefined);
  if (policy.from.length === 0) return usable.length > 0;
  return policy.from.every((entry) =>
    usable.some((q) => q.from?.targetRef === undefined || sameTargetRef(q.from.targetRef, entry.targetRef)),
  );
}

function acceptsTarget(qualifier: AccessQualifier, targetRef: TargetRef): boolean {
  if (qualifier.targetRef === undefined) return true;
  // Qualifiers compare kind, name and tags only; a target narrowed by more (a Dataplane's namespace,
  // labels or section name) cannot be told apart by them, so only a qualifier without targetRef fits.
  if (
    targetRef.namespace !== undefined ||
    targetRef.labels !== undefined ||
    targetRef.sectionName !== undefined
  ) {
    return false;
  }
  return sameTargetRef(qualifier.targetRef, targetRef);
}

/** Equal kind, name and tags; absent tags equal `{}`, an absent name equals `''`; proxyTypes ignored. */
export function sameTargetRef(a: AccessTargetRef | TargetRef, b: AccessTargetRef | TargetRef): boolean {
  return a.kind === b.kind && (a.name ?? '') === (b.name ?? '') && sameTags(a.tags ?? {}, b.tags ?? {});
}

function sameTags(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}
