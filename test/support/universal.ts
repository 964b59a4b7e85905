/** Policies in the universal JSON form the admin API takes and the store keeps. */
import type { UniversalResource } from '../../src/admin/resource-store.js';

/** A MeshTrafficPermission on backend: `action` for callers from the service `from`. */
export const universalMtp = (name: string, from = 'web', action = 'Allow'): UniversalResource => ({
  type: 'MeshTrafficPermission',
  name,
  mesh: 'default',
  spec: {
    targetRef: { kind: 'MeshService', name: 'backend' },
    from: [{ targetRef: { kind: 'MeshService', name: from }, default: { action } }],
  },
});
