/** Builders for typed AccessRoles and AccessRoleBindings, as the loader would produce them. */
import type {
  AccessKind,
  AccessRole,
  AccessRoleBinding,
  AccessRule,
  AccessSubject,
} from '../../src/policy/types.js';

const SOURCE = { file: 'rbac.yaml', line: 1, col: 1 };
const WRITE: AccessKind[] = ['CREATE', 'UPDATE', 'DELETE'];

export function rule(fields: Partial<AccessRule> = {}): AccessRule {
  return { types: [], names: [], access: WRITE, when: [], ...fields };
}

export function role(name: string, ...rules: AccessRule[]): AccessRole {
  return { type: 'AccessRole', name, labels: {}, form: 'universal', source: SOURCE, rules };
}

export function binding(name: string, subjects: AccessSubject[], roles: string[]): AccessRoleBinding {
  return { type: 'AccessRoleBinding', name, labels: {}, form: 'universal', source: SOURCE, subjects, roles };
}

export const user = (name: string): AccessSubject => ({ type: 'User', name });
export const group = (name: string): AccessSubject => ({ type: 'Group', name });

/** Kong Mesh's locked-down `default`: admin only for the mesh-system:admin group. */
export const RESTRICTED_DEFAULT = binding('default', [group('mesh-system:admin')], ['admin']);
