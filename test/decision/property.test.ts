/**
 * Randomized agreement checks: the compiled table against (1) a direct "last covering entry"
 * evaluation for single-valued clients and (2) a naive model of Kuma's rule builder for any client.
 */
import { describe, expect, it } from 'vitest';
import { decide } from '../../src/decision/decide.js';
import { clientFromUris, makeDestination } from '../../src/decision/identity.js';
import { compilePolicySet } from '../../src/policy/compile.js';
import type { MeshTrafficPermission, TargetRef } from '../../src/policy/types.js';
import { type ReferenceClient, referenceDecision } from '../support/kuma-reference.js';
import { mtp, policySet } from '../support/policies.js';
import { clientUris, pick, randomFrom } from '../support/random-policies.js';
import { seededRandom as rng } from '../support/random.js';

const SERVICES = ['a', 'b', 'c'];
const KEYS = ['zone', 'env'];
const VALUES = ['x', 'y'];

function randomTags(r: () => number): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const key of KEYS) if (r() < 0.5) tags[key] = pick(r, VALUES);
  if (Object.keys(tags).length === 0) tags[pick(r, KEYS)] = pick(r, VALUES);
  return tags;
}

function randomRef(r: () => number, topLevel: boolean): TargetRef {
  const kind = pick(r, ['Mesh', 'MeshSubset', 'MeshService', 'MeshServiceSubset'] as const);
  switch (kind) {
    case 'Mesh':
      return topLevel && r() < 0.1 ? { kind, proxyTypes: ['Gateway'] } : { kind };
    case 'MeshSubset':
      return { kind, tags: r() < 0.3 ? { 'kuma.io/service': pick(r, SERVICES) } : randomTags(r) };
    case 'MeshService':
      return { kind, name: pick(r, SERVICES) };
    case 'MeshServiceSubset':
      return { kind, name: pick(r, SERVICES), tags: randomTags(r) };
  }
}

function randomPolicies(r: () => number): MeshTrafficPermission[] {
  const count = 1 + Math.floor(r() * 4);
  const names = ['p1', 'p2', 'p3', 'p4', 'p5'];
  return Array.from({ length: count }, (_, i) => {
    const from = randomFrom(r, randomRef);
    const labels: Record<string, string> = {};
    if (r() < 0.2) labels['kuma.io/origin'] = pick(r, ['global', 'zone']);
    return mtp(names[i] as string, randomRef(r, true), from, { labels });
  });
}

function randomClient(r: () => number, multi: boolean): ReferenceClient {
  const tags = new Map<string, string[]>();
  const count = multi ? 1 + Math.floor(r() * 2) : 1;
  tags.set('kuma.io/service', [...new Set(Array.from({ length: count }, () => pick(r, SERVICES)))]);
  for (const key of KEYS) {
    if (r() < 0.3) continue;
    const n = multi ? 1 + Math.floor(r() * 2) : 1;
    tags.set(key, [...new Set(Array.from({ length: n }, () => pick(r, VALUES)))]);
  }
  return { mesh: 'default', tags };
}

function lastCovering(policies: MeshTrafficPermission[], names: readonly string[], c: ReferenceClient) {
  const entries = names.flatMap((name) => {
    const p = policies.find((x) => x.name === name) as MeshTrafficPermission;
    return p.from.map((f, fromIndex) => ({ policy: name, fromIndex, ...f }));
  });
  const has = (k: string, v: string) => c.tags.get(k)?.[0] === v;
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i];
    if (e === undefined) continue;
    const ref = e.targetRef;
    const ok =
      (ref.name === undefined || has('kuma.io/service', ref.name)) &&
      Object.entries(ref.tags ?? {}).every(([k, v]) => has(k, v));
    if (ok) return { action: e.action, decidedBy: { policy: e.policy, fromIndex: e.fromIndex } };
  }
  return { action: 'Deny', decidedBy: null };
}

/** Random policies, inbound and client, and what the compiled table decides for them. */
function randomCase(r: () => number, multi: boolean) {
  const policies = randomPolicies(r);
  const inbound = { 'kuma.io/service': pick(r, SERVICES), ...randomTags(r) };
  const c = randomClient(r, multi);
  const decision = decide(
    compilePolicySet(policySet(policies)),
    makeDestination('default', new Map(Object.entries(inbound))),
    clientFromUris(clientUris(c)),
  );
  return { policies, inbound, c, decision };
}

describe('compiled table vs direct evaluation', () => {
  it('agrees with "last covering entry" for single-valued clients (5000 random cases)', () => {
    const r = rng(20261122);
    for (let n = 0; n < 5000; n++) {
      const { policies, inbound, c, decision } = randomCase(r, false);
      const expected = decision.policies.length === 0 ? null : lastCovering(policies, decision.policies, c);
      const got = { action: decision.action, decidedBy: decision.decidedBy };
      const want = expected ?? { action: 'Deny', decidedBy: null };
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        expect(got, `case ${n}: ${JSON.stringify({ policies, inbound, c })}`).toEqual(want);
      }
    }
  });

  it.each([
    ['single-valued', false],
    ['multi-valued', true],
  ])('agrees with a naive model of Kuma for %s clients (5000 random cases)', (_name, multi) => {
    const r = rng(multi ? 7 : 11);
    for (let n = 0; n < 5000; n++) {
      const { policies, inbound, c, decision } = randomCase(r, multi);
      const expected = referenceDecision(policies, new Map(Object.entries(inbound)), c);
      const got = decision.via === 'no-policy' ? 'no-policy' : decision.action;
      if (got !== expected)
        expect(got, `case ${n}: ${JSON.stringify({ policies, inbound, c })}`).toBe(expected);
    }
  });
});
