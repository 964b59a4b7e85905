/**
 * The RBAC resources every installation starts with (Kong Mesh's defaults): role `admin` may do
 * everything, and binding `default` gives it to every caller, authenticated or not. Operators lock
 * the API down by redefining `default` (a file or an API write with that name replaces it).
 */
import {
  ACCESS_KINDS,
  type AccessRole,
  type AccessRoleBinding,
  type SourceLocation,
} from '../policy/types.js';

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

export const BUILTIN_DEFAULT_BINDING: AccessRoleBinding = Object.freeze({
  type: 'AccessRoleBinding',
  name: 'default',
  labels: Object.freeze({}),
  form: 'universal',
  source: BUILTIN_SOURCE,
  subjects: Object.freeze([
    Object.freeze({ type: 'Group', name: AUTHENTICATED_GROUP }),
    Object.freeze({ type: 'Group', name: UNAUTHENTICATED_GROUP }),
  ]),
  roles: Object.freeze(['admin']),
});

export function isBuiltin(resource: { readonly source: SourceLocation }): boolean {
  return resource.source === BUILTIN_SOURCE;
}

/** The loaded roles and bindings plus each built-in whose name nobody redefined (built-ins last). */
export function mergeBuiltins(
  roles: readonly AccessRole[],
  bindings: readonly AccessRoleBinding[],
): { roles: AccessRole[]; bindings: AccessRoleBinding[] } {
  const mergedRoles = [...roles];
  if (!roles.some((r) => r.name === BUILTIN_ADMIN_ROLE.name)) mergedRoles.push(BUILTIN_ADMIN_ROLE);
  const mergedBindings = [...bindings];
  if (!bindings.some((b) => b.name === BUILTIN_DEFAULT_BINDING.name))
    mergedBindings.push(BUILTIN_DEFAULT_BINDING);
  return { roles: mergedRoles, bindings: mergedBindings };
}
