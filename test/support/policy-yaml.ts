/**
 * Policy files as an operator writes them, for tests that serve them from disk or send them to
 * the admin API: the typed builders of policies.ts rendered in YAML flow style.
 */
import type { MeshTrafficPermission, TargetRef } from '../../src/policy/types.js';
import { mesh, mtp } from './policies.js';

const flowMap = (pairs: Readonly<Record<string, string>>): string =>
  `{${Object.entries(pairs)
    .map(([key, value]) => `${key}: ${value}`)
    .join(', ')}}`;

function refYaml(ref: TargetRef): string {
  const fields: string[] = [`kind: ${ref.kind}`];
  if (ref.name !== undefined) fields.push(`name: ${ref.name}`);
  if (ref.tags !== undefined) fields.push(`tags: ${flowMap(ref.tags)}`);
  return `{${fields.join(', ')}}`;
}

/** A from policy as YAML; `mesh:` and `labels:` only where they differ from the defaults. */
export function mtpYaml(policy: MeshTrafficPermission): string {
  const labels = Object.entries(policy.labels);
  return [
    'type: MeshTrafficPermission',
    `name: ${policy.name}`,
    ...(policy.mesh === 'default' ? [] : [`mesh: ${policy.mesh}`]),
    ...(labels.length === 0 ? [] : ['labels:', ...labels.map(([key, value]) => `  ${key}: ${value}`)]),
    'spec:',
    `  targetRef: ${refYaml(policy.targetRef)}`,
    '  from:',
    ...policy.from.flatMap((entry) => [
      `    - targetRef: ${refYaml(entry.targetRef)}`,
      `      default: {action: ${entry.action}}`,
    ]),
    '',
  ].join('\n');
}

/** Several policies in one file. */
export const policiesYaml = (...policies: readonly MeshTrafficPermission[]): string =>
  policies.map(mtpYaml).join('---\n');

/** Allows every client to every inbound of mesh `default`. */
export const ALLOW_ALL_YAML = mtpYaml(mtp('allow-all', mesh(), [[mesh(), 'Allow']]));
/** Denies every client to every inbound of mesh `default`. */
export const DENY_ALL_YAML = mtpYaml(mtp('deny-all', mesh(), [[mesh(), 'Deny']]));

// The RBAC of the Kong Mesh reference walk-through.

/** `default` restricted to mesh-system:admin. */
export const RESTRICT_DEFAULT_YAML = `type: AccessRoleBinding
name: default
subjects:
  - type: Group
    name: mesh-system:admin
roles:
  - admin
`;
/** Role `backend-owner`: the MTPs of mesh default that target MeshService backend. */
export const BACKEND_OWNER_ROLE_YAML = `type: AccessRole
name: backend-owner
rules:
  - types: ["MeshTrafficPermission"]
    mesh: default
    access: ["CREATE", "UPDATE", "DELETE"]
    when:
      - targetRef:
          kind: MeshService
          name: backend
`;
/** User backend-owner holds that role. */
export const BACKEND_OWNERS_BINDING_YAML = `type: AccessRoleBinding
name: backend-owners
subjects:
  - type: User
    name: backend-owner
roles:
  - backend-owner
`;
/** All three, as an operator's file. */
export const WALKTHROUGH_RBAC_YAML = [
  RESTRICT_DEFAULT_YAML,
  BACKEND_OWNER_ROLE_YAML,
  BACKEND_OWNERS_BINDING_YAML,
].join('---\n');
