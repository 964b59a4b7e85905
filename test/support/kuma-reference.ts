/**
 * An independent, deliberately naive model of Kuma 2.7.11–2.7.20 for MeshTrafficPermission (fixed
 * Subset.Intersect, kuma#12340; connected components, not cliques), used only as an oracle in
 * property tests: select and order policies (pkg/plugins/policies/core/matchers), join from lists,
 * build Kuma's rules (components of intersecting subsets, every negation combination, simplified,
 * last contained entry's action), then evaluate them the way Envoy's RBAC filter evaluates its
 * rules (Allow and AllowWithShadowDeny principals) and shadow rules (AllowWithShadowDeny alone)
 * against the URI SANs. Every user-keyed map is a Map.
 */
import type { Action, MeshTrafficPermission, TargetRef } from '../../src/policy/types.js';

interface Tag {
  readonly key: string;
  readonly value: string;
  readonly not: boolean;
}
type Subset = readonly Tag[];

export interface ReferenceClient {
  readonly mesh: string;
  /** key → values; kuma.io/service values become SPIFFE IDs. */
  readonly tags: ReadonlyMap<string, readonly string[]>;
}

const KIND = { Mesh: 0, Dataplane: 0.5, MeshSubset: 1, MeshService: 2, MeshServiceSubset: 3 } as const;

function asSubset(ref: TargetRef): Subset {
  const tags: Tag[] = [];
  if (ref.kind === 'MeshService' || ref.kind === 'MeshServiceSubset') {
    tags.push({ key: 'kuma.io/service', value: ref.name ?? '', not: false });
  }
  if (ref.kind === 'MeshSubset' || ref.kind === 'MeshServiceSubset') {
    for (const [key, value] of Object.entries(ref.tags ?? {})) tags.push({ key, value, not: false });
  }
  return tags;
}

function intersect(a: Subset, b: Subset): boolean {
  if (a.length === 0 || b.length === 0) return true;
  for (const tag of a) {
    if (tag.not) continue;
    for (const other of b) {
      if (!other.not && other.key === tag.key && other.value !== tag.value) return false;
    }
  }
  return true;
}

function tagIsSubset(t1: Tag, t2: Tag): boolean {
  if (t1.key !== t2.key) return false;
  if (t1.not === t2.not) return t1.value === t2.value;
  if (t1.not) return t1.value !== t2.value;
  return false;
}

/** Kuma's IsSubset: is `other` a subset of `ss`? */
function isSubset(ss: Subset, other: Subset): boolean {
  if (ss.length === 0) return true;
  for (const tag of ss) {
    const others = other.filter((o) => o.key === tag.key);
    if (others.length === 0) return false;
    if (!others.every((o) => tagIsSubset(tag, o))) return false;
  }
  return true;
}

function simplify(tags: Subset): Subset | undefined {
  const byKey = new Map<string, Tag[]>();
  for (const t of tags) byKey.set(t.key, [...(byKey.get(t.key) ?? []), t]);
  const out: Tag[] = [];
  for (const group of byKey.values()) {
    const positive = group.filter((t) => !t.not);
    if (positive.length >= 2) return undefined;
    if (positive.length === 1) out.push(positive[0] as Tag);
    else out.push(...group);
  }
  return out;
}

interface Rule {
  readonly subset: Subset;
  readonly action: Action;
}

function buildRules(items: readonly { subset: Subset; action: Action }[]): Rule[] {
  const n = items.length;
  const component = items.map((_, i) => i);
  const root = (i: number): number => (component[i] === i ? i : root(component[i] as number));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (i !== j && intersect(items[i]?.subset ?? [], items[j]?.subset ?? [])) component[root(i)] = root(j);
    }
  }
  const rules: Rule[] = [];
  const groups = new Map<number, number[]>();
  for (let i = 0; i < n; i++) groups.set(root(i), [...(groups.get(root(i)) ?? []), i]);
  for (const members of groups.values()) {
    const unique = new Map<string, Tag>();
    for (const m of members) for (const t of items[m]?.subset ?? []) unique.set(`${t.key}\0${t.value}`, t);
    const tags = [...unique.values()];
    for (let mask = 0; mask < 1 << tags.length; mask++) {
      const combo = tags.map((t, i) => ({ ...t, not: (mask & (1 << i)) !== 0 }));
      const atom = simplify(combo);
      if (atom === undefined) continue;
      let action: Action | undefined;
      for (const item of items) if (isSubset(item.subset, atom)) action = item.action;
      if (action !== undefined) rules.push({ subset: atom, action });
    }
  }
  return rules;
}

function sans(client: ReferenceClient): Set<string> {
  const out = new Set<string>();
  for (const [key, values] of client.tags) {
    for (const v of values)
      out.add(key === 'kuma.io/service' ? `spiffe://${client.mesh}/${v}` : `kuma://${key}/${v}`);
  }
  return out;
}

function principalMatches(atom: Subset, mesh: string, san: Set<string>): boolean {
  return atom.every((t) => {
    const uri = t.key === 'kuma.io/service' ? `spiffe://${mesh}/${t.value}` : `kuma://${t.key}/${t.value}`;
    return san.has(uri) !== t.not;
  });
}

/** Kuma's matcher: MeshServiceSubset starts from kuma.io/service: <name>, and its tags override it. */
function selects(ref: TargetRef, inbound: ReadonlyMap<string, string>): boolean {
  if (ref.proxyTypes && ref.proxyTypes.length > 0 && !ref.proxyTypes.includes('Sidecar')) return false;
  const required = new Map<string, string>();
  if (ref.kind === 'MeshService' || ref.kind === 'MeshServiceSubset') {
    required.set('kuma.io/service', ref.name ?? '');
  }
  if (ref.kind === 'MeshSubset' || ref.kind === 'MeshServiceSubset') {
    for (const [key, value] of Object.entries(ref.tags ?? {})) required.set(key, value);
  }
  return [...required].every(([key, value]) => inbound.get(key) === value);
}

function originRank(p: MeshTrafficPermission): number {
  const origin = p.labels['kuma.io/origin'];
  return origin === 'global' ? 0 : origin === 'zone' ? 2 : 1;
}

/** Kuma's GetDisplayName: the display-name label unless empty, else the name. */
function displayName(p: MeshTrafficPermission): string {
  const label = p.labels['kuma.io/display-name'];
  return label === undefined || label === '' ? p.name : label;
}

/** The action Kuma's RBAC would apply, or "no-policy" when no policy selects the inbound. */
export function referenceDecision(
  policies: readonly MeshTrafficPermission[],
  inbound: ReadonlyMap<string, string>,
  client: ReferenceClient,
): Action | 'no-policy' {
  const selected = policies
    .filter((p) => p.labels['kuma.io/effect'] !== 'shadow') // IsShadowedResource: not enforced
    .filter((p) => p.mesh === client.mesh && selects(p.targetRef, inbound))
    .sort((a, b) => {
      const na = displayName(a);
      const nb = displayName(b);
      return (
        KIND[a.targetRef.kind] - KIND[b.targetRef.kind] ||
        originRank(a) - originRank(b) ||
        (na === nb ? 0 : na < nb ? 1 : -1)
      );
    });
  if (selected.length === 0) return 'no-policy';
  const items = selected.flatMap((p) =>
    p.from.map((f) => ({ subset: asSubset(f.targetRef), action: f.action })),
  );
  const san = sans(client);
  const matched = buildRules(items).filter((r) => principalMatches(r.subset, client.mesh, san));
  // Envoy: the rules allow when an Allow or AllowWithShadowDeny principal matches; the shadow
  // rules (AllowWithShadowDeny principals) then report a deny on their own.
  const allowed = matched.some((r) => r.action === 'Allow' || r.action === 'AllowWithShadowDeny');
  const shadowDenied = matched.some((r) => r.action === 'AllowWithShadowDeny');
  if (!allowed) return 'Deny';
  return shadowDenied ? 'AllowWithShadowDeny' : 'Allow';
}
