/**
 * The RBAC resources every installation starts with: role `admin` may do everything, and binding
 * `default` gives it to every authenticated caller (token holders and the localhost admin).
 * Kong Mesh's own `default` also covers unauthenticated callers, which would let anyone who
 * reaches the HTTP port write; `--admin-default-binding=kong-mesh` restores it for those who want
 * Kong Mesh's behaviour. Operators redefine `default` (a file or an API write with that name
 * replaces it) to narrow it further.
 */
import {
  ACCESS_KINDS,
  type AccessRole,
  type AccessRoleBinding,
  type SourceLocation,
} from '../policy/types.js';
import type { AdminDefaultBinding } from '../settings/settings.js';

export const AUTHENTICATED_GROUP = 'mesh-system:authenticated';
export const UNAUTHENTICATED_GROUP = 'mesh-system:unauthenticated';
export const ADMIN_GROUP = 'mesh-system:admin';
export const ADMIN_USER = 'mesh-system:admin';
export const ANONYMOUS_USER = 'mesh-system:anonymous';

/** Where built-in resources say they come from (they have no file). */
export const BUILTIN_SOURCE: SourceLocation = Object.freeze({ file: '(built-in)', line: 1, col: 1 });

export const BUILTIN_ADMIN_ROLE: AccessRole = Object.freeze({
  type: 'AccessRole',
  name: 'admin',
  labels: Object.freeze({}),
  form: 'universal',
  source: BUILTIN_SOURCE,
  rules: Object.freeze([Object.freeze({ types: [], names: [], access: [...ACCESS_KINDS], when: [] })]),
});

function defaultBinding(groups: readonly string[]): AccessRoleBinding {
  return Object.freeze({
    type: 'AccessRoleBinding',
    name: 'default',
    labels: Object.freeze({}),
    form: 'universal',
    source: BUILTIN_SOURCE,
    subjects: Object.freeze(groups.map((name) => Object.freeze({ type: 'Group' as const, name }))),
    roles: Object.freeze(['admin']),
  });
}

/** The built-in `default` binding: authenticated callers only. */
export const BUILTIN_DEFAULT_BINDING: AccessRoleBinding = defaultBinding([AUTHENTICATED_GROUP]);

/** Kong Mesh's built-in `default` binding: every caller, authenticated or not. */
export const KONG_MESH_DEFAULT_BINDING: AccessRoleBinding = defaultBinding([
  AUTHENTICATED_GROUP,
  UNAUTHENTICATED_GROUP,
]);

/** `--admin-default-binding` → the built-in `default` binding it stands for. */
export function builtinDefaultBinding(choice: AdminDefaultBinding): AccessRoleBinding {
  return choice === 'kong-mesh' ? KONG_MESH_DEFAULT_BINDING : BUILTIN_DEFAULT_BINDING;
}

export function isBuiltin(resource: { readonly source: SourceLocation }): boolean {
  return resource.source === BUILTIN_SOURCE;
}

/** The loaded roles and bindings plus each built-in whose name nobody redefined (built-ins last). */
export function mergeBuiltins(
  roles: readonly AccessRole[],
  bindings: readonly AccessRoleBinding[],
  defaultBinding: AccessRoleBinding = BUILTIN_DEFAULT_BINDING,
): { roles: AccessRole[]; bindings: AccessRoleBinding[] } {
  const mergedRoles = [...roles];
  if (!roles.some((r) => r.name === BUILTIN_ADMIN_ROLE.name)) mergedRoles.push(BUILTIN_ADMIN_ROLE);
  const mergedBindings = [...bindings];
  if (!bindings.some((b) => b.name === defaultBinding.name)) mergedBindings.push(defaultBinding);
  return { roles: mergedRoles, bindings: mergedBindings };
}
