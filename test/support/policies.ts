/** Builders for typed policies, so engine tests do not depend on the YAML loader. */
import { clientFromUris, makeDestination } from '../../src/decision/identity.js';
import type { Client, Decision, Destination } from '../../src/decision/types.js';
import type {
  Action,
  MeshResource,
  MeshTrafficPermission,
  MtlsMode,
  PolicySet,
  TargetRef,
} from '../../src/policy/types.js';

const SOURCE = { file: 'test.yaml', line: 1, col: 1 };

export const mesh = (): TargetRef => ({ kind: 'Mesh' });
export const subset = (tags: Record<string, string>): TargetRef => ({ kind: 'MeshSubset', tags });
export const service = (name: string): TargetRef => ({ kind: 'MeshService', name });
export const serviceSubset = (name: string, tags: Record<string, string>): TargetRef => ({
  kind: 'MeshServiceSubset',
  name,
  tags,
});

export function mtp(
  name: string,
  targetRef: TargetRef,
  from: readonly (readonly [TargetRef, Action])[],
  options: { mesh?: string; labels?: Record<string, string> } = {},
): MeshTrafficPermission {
  return {
    type: 'MeshTrafficPermission',
    name,
    mesh: options.mesh ?? 'default',
    labels: options.labels ?? {},
    form: 'universal',
    source: SOURCE,
    targetRef,
    from: from.map(([ref, action]) => ({ targetRef: ref, action })),
  };
}

export function meshDoc(name: string, mtls: MtlsMode): MeshResource {
  return { type: 'Mesh', name, mtls, labels: {}, form: 'universal', source: SOURCE };
}

export function policySet(
  policies: readonly MeshTrafficPermission[],
  meshes: readonly MeshResource[] = [],
): PolicySet {
  return { policies, meshes, accessRoles: [], accessRoleBindings: [], warnings: [] };
}

/** A destination inbound from `k=v` pairs; kuma.io/service first. */
export function dest(service: string, tags: Record<string, string> = {}, meshName = 'default'): Destination {
  return makeDestination(meshName, new Map([['kuma.io/service', service], ...Object.entries(tags)]));
}

/** A client as its certificate's URI SANs would read: services → spiffe IDs, tags → kuma:// URIs. */
export function client(
  services: string | readonly string[],
  tags: Record<string, string | readonly string[]> = {},
  meshName = 'default',
): Client {
  const uris: string[] = [];
  for (const s of typeof services === 'string' ? [services] : services)
    uris.push(`spiffe://${meshName}/${s}`);
  for (const [key, value] of Object.entries(tags)) {
    for (const v of typeof value === 'string' ? [value] : value) uris.push(`kuma://${key}/${v}`);
  }
  return clientFromUris(uris);
}

/** The label that makes a policy a shadow policy. */
export const SHADOW = { 'kuma.io/effect': 'shadow' } as const;

/** Enforced: everyone may call backend. Shadow: a new policy that would deny orders. */
export const SHADOW_DENY_ORDERS = (() => {
  const allowAll = mtp('allow-all', mesh(), [[mesh(), 'Allow']]);
  const tryDenyOrders = mtp(
    'try-deny-orders',
    service('backend'),
    [[subset({ 'kuma.io/service': 'orders' }), 'Deny']],
    {
      labels: SHADOW,
    },
  );
  return {
    allowAll,
    tryDenyOrders,
    set: policySet([allowAll, tryDenyOrders], [meshDoc('default', 'strict')]),
  };
})();

/**
 * {x=1,y=1,z=1} conflicts with each of a ring of subsets, so it is not in their component; but that
 * component names x, y and z = 1, so its atom for such a client contains it (Kuma gives an atom
 * the last entry of the whole list it contains): AllowWithShadowDeny, while the entry's own
 * component ends with the broader Allow.
 */
export const RING_POLICY = mtp('p', mesh(), [
  [subset({ x: '1', y: '1', z: '1' }), 'AllowWithShadowDeny'],
  [subset({ x: '1', y: '2' }), 'Deny'],
  [subset({ y: '1', z: '2' }), 'Deny'],
  [subset({ z: '1', x: '2' }), 'Deny'],
  [subset({ x: '1', z: '2' }), 'Deny'],
  [subset({ y: '1', x: '2' }), 'Deny'],
  [subset({ x: '1', y: '1', z: '1', w: '1' }), 'Allow'],
]);

/** A decision by a rule: `policy`'s from entry `fromIndex`, among the `policies` evaluated. */
export function byRule(
  action: Action,
  policy: string,
  fromIndex: number,
  policies: readonly string[] = [policy],
): Decision {
  return { action, via: 'rule', decidedBy: { policy, fromIndex }, policies };
}
