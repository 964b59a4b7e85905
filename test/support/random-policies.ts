/**
 * Random policy sets, inbounds and clients for agreement tests against the reference model, from a
 * seeded PRNG so a failure names a reproducible case. The vocabulary is small on purpose (so the
 * reference's exhaustive enumeration stays cheap) and reaches the corners: tag keys that are
 * Object.prototype names, `kuma.io/service` inside tags (top level and from), empty display names,
 * origins, proxy types, shadow-effect policies, every action, clients with several values per key.
 */
import type { Action, MeshTrafficPermission, ProxyType, TargetRef } from '../../src/policy/types.js';
import type { ReferenceClient } from './kuma-reference.js';
import { mtp } from './policies.js';
import { seededRandom } from './random.js';

export type Random = () => number;

/** The seeded PRNG of every randomized suite. */
export const rng: (seed: number) => Random = seededRandom;

export function pick<T>(r: Random, list: readonly T[]): T {
  return list[Math.floor(r() * list.length)] as T;
}

export const SERVICE_TAG = 'kuma.io/service';
export const SERVICES = ['a', 'b', 'c'] as const;
export const KEYS = ['zone', 'env', '__proto__', 'constructor'] as const;
export const VALUES = ['x', 'y'] as const;
const ACTIONS: readonly Action[] = ['Allow', 'Deny', 'AllowWithShadowDeny'];
const PROXY_TYPES: readonly (readonly ProxyType[])[] = [['Gateway'], ['Sidecar'], ['Sidecar', 'Gateway']];

/** Own keys only (Object.fromEntries defines them), as the validator's maps hold them. */
function tagsOf(pairs: readonly (readonly [string, string])[]): Record<string, string> {
  return Object.fromEntries(pairs);
}

function randomTags(r: Random, withService: boolean): Record<string, string> {
  const pairs: [string, string][] = [];
  for (const key of KEYS) if (r() < 0.3) pairs.push([key, pick(r, VALUES)]);
  if (withService && r() < 0.3) pairs.push([SERVICE_TAG, pick(r, SERVICES)]);
  if (pairs.length === 0) pairs.push([pick(r, KEYS), pick(r, VALUES)]);
  return tagsOf(pairs);
}

export function randomRef(r: Random, topLevel: boolean): TargetRef {
  const kind = pick(r, ['Mesh', 'MeshSubset', 'MeshService', 'MeshServiceSubset'] as const);
  switch (kind) {
    case 'Mesh':
      return topLevel && r() < 0.2 ? { kind, proxyTypes: pick(r, PROXY_TYPES) } : { kind };
    case 'MeshSubset':
      return topLevel && r() < 0.1
        ? { kind, tags: randomTags(r, true), proxyTypes: pick(r, PROXY_TYPES) }
        : { kind, tags: randomTags(r, true) };
    case 'MeshService':
      return { kind, name: pick(r, SERVICES) };
    case 'MeshServiceSubset':
      return { kind, name: pick(r, SERVICES), tags: randomTags(r, true) };
  }
}

/** A from list of 1–4 entries: targetRefs by `ref` (not top-level), any action. */
export function randomFrom(
  r: Random,
  ref: (r: Random, topLevel: boolean) => TargetRef,
): (readonly [TargetRef, Action])[] {
  return Array.from({ length: 1 + Math.floor(r() * 4) }, () => [ref(r, false), pick(r, ACTIONS)] as const);
}

/** 1–4 policies with distinct sort names (Kuma's own order of equal names is unspecified). */
export function randomPolicies(r: Random): MeshTrafficPermission[] {
  const count = 1 + Math.floor(r() * 4);
  const displays = ['q0', 'q1', 'q2', 'q3', 'q4', 'q5'].sort(() => r() - 0.5);
  return Array.from({ length: count }, (_, i) => {
    const from = randomFrom(r, randomRef);
    const labels: Record<string, string> = {};
    if (r() < 0.25) labels['kuma.io/origin'] = pick(r, ['global', 'zone']);
    const display = r();
    if (display < 0.15) labels['kuma.io/display-name'] = '';
    else if (display < 0.35) labels['kuma.io/display-name'] = displays[i] as string;
    if (r() < 0.08) labels['kuma.io/effect'] = 'shadow';
    return mtp(`p${i}`, randomRef(r, true), from, { labels });
  });
}

/** An inbound: its service and 0–4 other tags. */
export function randomInbound(r: Random): Map<string, string> {
  const tags = new Map<string, string>([[SERVICE_TAG, pick(r, SERVICES)]]);
  for (const key of KEYS) if (r() < 0.4) tags.set(key, pick(r, VALUES));
  return tags;
}

/** A client; `multi` lets every key carry up to all of its values. */
export function randomClient(r: Random, multi: boolean): ReferenceClient {
  const some = <T>(list: readonly T[], max: number): T[] => [
    ...new Set(Array.from({ length: 1 + Math.floor(r() * max) }, () => pick(r, list))),
  ];
  const tags = new Map<string, string[]>([[SERVICE_TAG, some(SERVICES, multi ? 3 : 1)]]);
  for (const key of KEYS) if (r() < 0.6) tags.set(key, some(VALUES, multi ? 2 : 1));
  return { mesh: 'default', tags };
}

export function clientUris(c: ReferenceClient): string[] {
  return [...c.tags].flatMap(([k, vs]) =>
    vs.map((v) => (k === SERVICE_TAG ? `spiffe://${c.mesh}/${v}` : `kuma://${k}/${v}`)),
  );
}

/** The policies as one Universal-form document stream (JSON documents are YAML). */
export function policyText(policies: readonly MeshTrafficPermission[]): string {
  return policies
    .map((p) =>
      JSON.stringify({
        type: p.type,
        name: p.name,
        mesh: p.mesh,
        labels: p.labels,
        spec: {
          targetRef: p.targetRef,
          from: p.from.map((f) => ({ targetRef: f.targetRef, default: { action: f.action } })),
        },
      }),
    )
    .join('\n---\n');
}

const DENSE_KEYS = ['x', 'y', 'z'] as const;
const DENSE_VALUES = ['1', '2', '3'] as const;

/**
 * One policy whose from list mixes subsets over three keys of three values each: many components,
 * rings of subsets that each conflict with a third, entries that decide atoms of components they
 * are not in. No kind Mesh entry (it would join everything into one component).
 */
export function randomDensePolicy(r: Random): MeshTrafficPermission {
  const ref = (): TargetRef => {
    if (r() < 0.05) return { kind: 'MeshService', name: pick(r, ['a', 'b']) };
    const pairs: [string, string][] = [];
    for (const k of DENSE_KEYS) if (r() < 0.55) pairs.push([k, pick(r, DENSE_VALUES)]);
    if (pairs.length === 0) pairs.push([pick(r, DENSE_KEYS), pick(r, DENSE_VALUES)]);
    if (r() < 0.1) {
      if (r() < 0.5) pairs.push([SERVICE_TAG, pick(r, ['a', 'b'])]);
      return { kind: 'MeshServiceSubset', name: pick(r, ['a', 'b']), tags: tagsOf(pairs) };
    }
    return { kind: 'MeshSubset', tags: tagsOf(pairs) };
  };
  const from = Array.from({ length: 3 + Math.floor(r() * 8) }, () => [ref(), pick(r, ACTIONS)] as const);
  return mtp('dense', { kind: 'Mesh' }, from);
}

export function randomDenseClient(r: Random, multi: boolean): ReferenceClient {
  const tags = new Map<string, string[]>([[SERVICE_TAG, [pick(r, ['a', 'b'])]]]);
  for (const k of DENSE_KEYS) {
    if (r() < 0.2) continue;
    tags.set(
      k,
      multi ? [...new Set([pick(r, DENSE_VALUES), pick(r, DENSE_VALUES)])] : [pick(r, DENSE_VALUES)],
    );
  }
  return { mesh: 'default', tags };
}
