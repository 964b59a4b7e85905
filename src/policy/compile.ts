/**
 * Compiles a validated PolicySet into the DecisionTable the hot path reads. All the sorting,
 * flattening and indexing happens here, once per generation, so decide() only compares strings.
 */
import {
  type CompiledEntry,
  type CompiledPolicy,
  DecisionTable,
  type MeshTable,
  type Selector,
} from '../decision/table.js';
import { compareDataplaneTargets, compileRules, dataplaneSelector } from './compile-rules.js';
import type { MeshTrafficPermission, MtlsMode, PolicySet, TargetRef, TargetRefKind } from './types.js';
import { DISPLAY_NAME_LABEL, EFFECT_LABEL, ORIGIN_LABEL, SERVICE_TAG } from './types.js';

export interface CompileOptions {
  readonly generation: number;
  /** Also enforce policies labelled `kuma.io/effect: shadow` (the shadow evaluation of §6.4). */
  readonly includeShadow: boolean;
}

const KIND_RANK: Record<TargetRefKind, number> = {
  Mesh: 0,
  Dataplane: 1,
  MeshSubset: 2,
  MeshService: 3,
  MeshServiceSubset: 4,
};

export function isShadowPolicy(policy: MeshTrafficPermission): boolean {
  return policy.labels[EFFECT_LABEL] === 'shadow';
}

export interface CompiledTables {
  readonly table: DecisionTable;
  /** Enforced plus shadow policies; undefined when the set has no shadow policy (no extra work). */
  readonly shadowTable: DecisionTable | undefined;
}

/** The tables one generation serves: the enforced one and, when needed, the shadow one. */
export function compileTables(set: PolicySet, generation: number): CompiledTables {
  return {
    table: compilePolicySet(set, { generation }),
    shadowTable: set.policies.some(isShadowPolicy)
      ? compilePolicySet(set, { generation, includeShadow: true })
      : undefined,
  };
}

export function compilePolicySet(set: PolicySet, options: Partial<CompileOptions> = {}): DecisionTable {
  const generation = options.generation ?? 1;
  const includeShadow = options.includeShadow ?? false;

  const mtls = new Map<string, MtlsMode>();
  for (const mesh of set.meshes) mtls.set(mesh.name, mesh.mtls);

  const byMesh = new Map<string, MeshTrafficPermission[]>();
  for (const policy of set.policies) {
    if (!includeShadow && isShadowPolicy(policy)) continue;
    const list = byMesh.get(policy.mesh);
    if (list === undefined) byMesh.set(policy.mesh, [policy]);
    else list.push(policy);
  }

  const meshes = new Map<string, MeshTable>();
  for (const name of new Set([...mtls.keys(), ...byMesh.keys()])) {
    meshes.set(name, compileMesh(name, mtls.get(name) ?? 'strict', byMesh.get(name) ?? []));
  }
  // A shadow-only mesh still counts as known, so its metrics keep their label.
  for (const policy of set.policies) {
    if (!meshes.has(policy.mesh)) meshes.set(policy.mesh, compileMesh(policy.mesh, 'strict', []));
  }
  return new DecisionTable(generation, meshes);
}

function compileMesh(name: string, mtls: MtlsMode, policies: MeshTrafficPermission[]): MeshTable {
  const ordered = [...policies].sort(compareKumaOrder);
  const unscoped: CompiledPolicy[] = [];
  const byService = new Map<string, CompiledPolicy[]>();
  ordered.forEach((policy, rank) => {
    if (!selectsSidecars(policy.targetRef)) return;
    const rules = compileRules(policy);
    const compiled: CompiledPolicy = {
      name: policy.name,
      rank,
      ...(rules === undefined ? {} : { rules }),
      selector:
        policy.targetRef.kind === 'Dataplane' ? dataplaneSelector(policy) : selectorOf(policy.targetRef),
      entries: policy.from.map((entry, fromIndex): CompiledEntry => {
        const { keys, values } = flatten(entry.targetRef);
        return { policy: policy.name, fromIndex, action: entry.action, keys, values };
      }),
    };
    const service = compiled.selector.service;
    if (service === undefined) unscoped.push(compiled);
    else {
      const list = byService.get(service);
      if (list === undefined) byService.set(service, [compiled]);
      else list.push(compiled);
    }
  });
  return { name, mtls, unscoped, byService, policyCount: policies.length };
}

/**
 * Kuma's inbound order, least specific first: targetRef kind, then origin (global, none, zone),
 * then name descending (display name when set) so the lexicographically first name is last and wins.
 */
export function compareKumaOrder(a: MeshTrafficPermission, b: MeshTrafficPermission): number {
  return (
    KIND_RANK[a.targetRef.kind] - KIND_RANK[b.targetRef.kind] ||
    compareDataplaneTargets(a.targetRef, b.targetRef) ||
    originRank(a) - originRank(b) ||
    compareDescending(displayName(a), displayName(b)) ||
    compareDescending(a.name, b.name)
  );
}

function originRank(policy: MeshTrafficPermission): number {
  const origin = policy.labels[ORIGIN_LABEL];
  if (origin === 'global') return 0;
  if (origin === 'zone') return 2;
  return 1;
}

/** An empty display name counts as unset, as in Kuma. */
function displayName(policy: MeshTrafficPermission): string {
  const label = policy.labels[DISPLAY_NAME_LABEL];
  return label === undefined || label === '' ? policy.name : label;
}

function compareDescending(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? 1 : -1;
}

/** Sidecar inbounds only: a Mesh/MeshSubset limited to other proxy types selects nothing here. */
function selectsSidecars(targetRef: TargetRef): boolean {
  const types = targetRef.proxyTypes;
  return types === undefined || types.length === 0 || types.includes('Sidecar');
}

/**
 * The inbound tags a top-level targetRef requires. As in Kuma's matcher, a MeshServiceSubset starts
 * from `kuma.io/service: <name>` and its tags then override it, `kuma.io/service` included.
 */
function selectorOf(targetRef: TargetRef): Selector {
  const required = new Map<string, string>();
  if (
    (targetRef.kind === 'MeshService' || targetRef.kind === 'MeshServiceSubset') &&
    targetRef.name !== undefined
  ) {
    required.set(SERVICE_TAG, targetRef.name);
  }
  if (targetRef.kind === 'MeshSubset' || targetRef.kind === 'MeshServiceSubset') {
    for (const [key, value] of Object.entries(targetRef.tags ?? {})) required.set(key, value);
  }
  const service = required.get(SERVICE_TAG);
  const keys = [...required.keys()];
  const values = [...required.values()];
  return service === undefined ? { keys, values } : { service, keys, values };
}

/**
 * The tags a from entry's targetRef stands for, as Kuma's asSubset builds them: a MeshServiceSubset
 * keeps both its name and a `kuma.io/service` tag (two values of one key cover no client).
 */
function flatten(targetRef: TargetRef): { keys: string[]; values: string[] } {
  const keys: string[] = [];
  const values: string[] = [];
  if (
    (targetRef.kind === 'MeshService' || targetRef.kind === 'MeshServiceSubset') &&
    targetRef.name !== undefined
  ) {
    keys.push(SERVICE_TAG);
    values.push(targetRef.name);
  }
  if (targetRef.kind === 'MeshSubset' || targetRef.kind === 'MeshServiceSubset') {
    for (const [key, value] of Object.entries(targetRef.tags ?? {})) {
      keys.push(key);
      values.push(value);
    }
  }
  return { keys, values };
}
