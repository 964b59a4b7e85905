/**
 * The compiled table against the reference model of Kuma 2.7.11–2.7.20 on random policy sets and
 * clients (single- and multi-valued), and on the cases that once disagreed. The same comparison runs
 * over the wire, through POST /explain and gRPC Check, in test/integration/agreement.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { decide } from '../../src/decision/decide.js';
import { clientFromUris, makeDestination } from '../../src/decision/identity.js';
import type { Decision } from '../../src/decision/types.js';
import { compilePolicySet } from '../../src/policy/compile.js';
import { loadPolicyTexts } from '../../src/policy/load.js';
import type { MeshTrafficPermission } from '../../src/policy/types.js';
import { type ReferenceClient, referenceDecision } from '../support/kuma-reference.js';
import { mesh, mtp, policySet, RING_POLICY, service, serviceSubset, subset } from '../support/policies.js';
import {
  clientUris,
  policyText,
  randomClient,
  randomDenseClient,
  randomDensePolicy,
  randomInbound,
  randomPolicies,
  rng,
} from '../support/random-policies.js';

function ours(policies: readonly MeshTrafficPermission[], inbound: Map<string, string>, c: ReferenceClient) {
  const decision: Decision = decide(
    compilePolicySet(policySet(policies)),
    makeDestination('default', inbound),
    clientFromUris(clientUris(c)),
  );
  return decision.via === 'no-policy' ? 'no-policy' : decision.action;
}

interface Case {
  readonly policies: readonly MeshTrafficPermission[];
  readonly inbound: Map<string, string>;
  readonly c: ReferenceClient;
  /** What the service is given, when not `policies` themselves (read back from their text). */
  readonly served?: readonly MeshTrafficPermission[];
}

/** Where the service and the reference answer `count` cases made by `next` differently. */
function disagreementsOver(count: number, next: (n: number) => Case): string[] {
  const found: string[] = [];
  for (let n = 0; n < count; n++) {
    const { policies, inbound, c, served = policies } = next(n);
    const want = referenceDecision(policies, inbound, c);
    const got = ours(served, inbound, c);
    if (got !== want) found.push(`case ${n}: got ${got}, want ${want}`);
  }
  return found;
}

describe('agreement with the reference model of Kuma', () => {
  it.each([
    ['single-valued', false, 101],
    ['multi-valued', true, 202],
  ])('%s clients: 0 disagreements in 4000 random cases', (_name, multi, seed) => {
    const r = rng(seed);
    const disagreements = disagreementsOver(4000, () => {
      const policies = randomPolicies(r);
      const inbound = randomInbound(r);
      return { policies, inbound, c: randomClient(r, multi) };
    });
    expect(disagreements).toEqual([]);
  });

  it.each([
    ['single-valued', false, 404],
    ['multi-valued', true, 505],
  ])('dense from lists, %s clients: 0 disagreements in 2000 random cases', (_name, multi, seed) => {
    const r = rng(seed);
    const inbound = new Map([['kuma.io/service', 'backend']]);
    const disagreements = disagreementsOver(2000, () => {
      const policies = [randomDensePolicy(r)];
      return { policies, inbound, c: randomDenseClient(r, multi) };
    });
    expect(disagreements).toEqual([]);
  });

  it('policies read from files agree too (the validator keeps every tag key)', () => {
    const r = rng(303);
    const disagreements = disagreementsOver(300, (n) => {
      const policies = randomPolicies(r);
      const loaded = loadPolicyTexts([{ file: 'random.yaml', text: policyText(policies) }]);
      if (!loaded.ok) throw new Error(`case ${n} does not load: ${JSON.stringify(loaded.errors)}`);
      const inbound = randomInbound(r);
      return { policies, inbound, c: randomClient(r, true), served: loaded.set.policies };
    });
    expect(disagreements).toEqual([]);
  });

  const web = (tags: [string, string[]][] = [], services = ['web']): ReferenceClient => ({
    mesh: 'default',
    tags: new Map([['kuma.io/service', services], ...tags]),
  });
  const inbound = (service = 'x', tags: [string, string][] = []) =>
    new Map([['kuma.io/service', service], ...tags]);

  it.each([
    [
      'Allow and AllowWithShadowDeny atoms both matched',
      [
        mtp('p', mesh(), [
          [service('a'), 'Allow'],
          [service('b'), 'AllowWithShadowDeny'],
        ]),
      ],
      inbound(),
      web([], ['a', 'b']),
      'AllowWithShadowDeny',
    ],
    [
      'a top-level MeshServiceSubset whose tags name the service',
      [mtp('p', serviceSubset('backend', { 'kuma.io/service': 'db' }), [[mesh(), 'Allow']])],
      inbound('db'),
      web(),
      'Allow',
    ],
    [
      'the same policy does not select its name',
      [mtp('p', serviceSubset('backend', { 'kuma.io/service': 'db' }), [[mesh(), 'Allow']])],
      inbound('backend'),
      web(),
      'no-policy',
    ],
    [
      'an empty display name sorts by the name',
      [
        mtp('zzz', mesh(), [[mesh(), 'Allow']], { labels: { 'kuma.io/display-name': '' } }),
        mtp('mmm', mesh(), [[mesh(), 'Deny']]),
      ],
      inbound(),
      web(),
      'Deny',
    ],
    [
      'a __proto__ tag key',
      [mtp('p', mesh(), [[subset(Object.fromEntries([['__proto__', 'y']])), 'Allow']])],
      inbound(),
      web([['__proto__', ['y']]]),
      'Allow',
    ],
    [
      'a subset naming two services bridges components',
      [
        mtp('p', mesh(), [
          [subset({ team: 'x' }), 'Allow'],
          [subset({ team: 'x', env: '1' }), 'Deny'],
          [subset({ team: 'y', env: '2' }), 'Allow'],
          [serviceSubset('a', { 'kuma.io/service': 'b' }), 'Deny'],
        ]),
      ],
      inbound(),
      web([
        ['team', ['x']],
        ['env', ['1', '2']],
      ]),
      'Allow',
    ],
    [
      'an entry decides atoms of a component it is not in (one value per key)',
      [RING_POLICY],
      inbound(),
      web([
        ['x', ['1']],
        ['y', ['1']],
        ['z', ['1']],
        ['w', ['1']],
      ]),
      'AllowWithShadowDeny',
    ],
  ] as const)('%s', (_name, policies, where, who, expected) => {
    expect(referenceDecision(policies, where, who)).toBe(expected);
    expect(ours(policies, where, who)).toBe(expected);
  });
});
