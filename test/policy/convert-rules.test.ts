/**
 * `convert --to rules`: what converts, what does not and why, and — on random from sets — that
 * the converted set answers every generated single-SAN client on every generated inbound as the
 * from set does whenever the converter says it converted everything.
 */
import { describe, expect, it } from 'vitest';
import { decide } from '../../src/decision/decide.js';
import { clientFromUris, makeDestination } from '../../src/decision/identity.js';
import { compilePolicySet } from '../../src/policy/compile.js';
import { convertToRules } from '../../src/policy/convert-rules.js';
import type { Action, MeshTrafficPermission, TargetRef } from '../../src/policy/types.js';
import { mesh, mtp, policySet, service, subset } from '../support/policies.js';
import { seededRandom } from '../support/random.js';

describe('convertToRules', () => {
  it('turns services into Exact SPIFFE IDs and the mesh into a Prefix, keeping name, target and labels', () => {
    const policy = mtp(
      'p',
      service('backend'),
      [
        [mesh(), 'Allow'],
        [service('orders'), 'Deny'],
        [subset({ 'kuma.io/service': 'audit' }), 'AllowWithShadowDeny'],
      ],
      { labels: { 'kuma.io/origin': 'zone' } },
    );
    const result = convertToRules(policySet([policy]));
    expect(result.notConverted).toEqual([]);
    expect(result.mismatches).toEqual([]);
    expect(result.converted).toEqual([
      {
        ...policy,
        from: [],
        rules: [
          {
            deny: [{ spiffeID: { type: 'Exact', value: 'spiffe://default/orders' } }],
            allowWithShadowDeny: [{ spiffeID: { type: 'Exact', value: 'spiffe://default/audit' } }],
            allow: [{ spiffeID: { type: 'Prefix', value: 'spiffe://default' } }],
          },
        ],
      },
    ]);
    expect(result.caveats[0]?.message).toContain('also admits trust domains that begin with "default"');
  });

  it('says per entry why a tag-based subset has no equivalent, and leaves that policy alone', () => {
    const result = convertToRules(
      policySet([
        mtp('tags', mesh(), [
          [subset({ env: 'prod' }), 'Allow'],
          [service('web'), 'Allow'],
        ]),
      ]),
    );
    expect(result.converted).toEqual([]);
    expect(result.notConverted).toEqual([
      {
        policy: 'tags',
        where: 'from[0]',
        message: 'a tag-based MeshSubset has no SPIFFE-ID equivalent (SPIFFE IDs carry no tags)',
      },
    ]);
  });

  it('refuses an allow that a mesh-wide allowWithShadowDeny would override under rules', () => {
    const result = convertToRules(
      policySet([
        mtp('p', mesh(), [
          [mesh(), 'AllowWithShadowDeny'],
          [service('web'), 'Allow'],
        ]),
      ]),
    );
    expect(result.notConverted[0]?.message).toBe(
      'clients of web are allowed while every other client is allowed with a shadow deny: under rules an allowWithShadowDeny match always wins over an allow',
    );
  });

  it('keeps a deny-everything policy, and finds where joined from lists and added-up rules differ', () => {
    const kept = convertToRules(policySet([mtp('deny-all', mesh(), [[mesh(), 'Deny']])]));
    expect(kept.kept.map((k) => k.policy)).toEqual(['deny-all']);
    // On backend, from joins [allow everyone, deny everyone, allow web]: only web gets in. As rules,
    // the mesh-wide allow of the first policy adds up with the second and lets everyone in.
    const split = convertToRules(
      policySet([
        mtp('open', mesh(), [[mesh(), 'Allow']]),
        mtp('backend-web-only', service('backend'), [
          [mesh(), 'Deny'],
          [service('web'), 'Allow'],
        ]),
      ]),
    );
    expect(split.notConverted).toEqual([]);
    expect(split.mismatches[0]).toBe(
      'mesh default, inbound kuma.io/service=backend, client spiffe://default/any-other-service: from answers Deny, the converted set Allow',
    );
  });
});

// --- random sets, decided both ways -----------------------------------------------------------

let next = seededRandom(1);
const random = (n: number): number => Math.floor(next() * n);
const pick = <T>(items: readonly T[]): T => items[random(items.length)] as T;
const SERVICES = ['backend', 'web', 'orders', 'audit'];
const ACTIONS: Action[] = ['Allow', 'Deny', 'AllowWithShadowDeny'];

function randomEntryTarget(): TargetRef {
  const r = random(4);
  if (r === 0) return mesh();
  if (r === 1) return subset({ 'kuma.io/service': pick(SERVICES) });
  return service(pick(SERVICES));
}

function randomTopTarget(): TargetRef {
  const r = random(4);
  if (r === 0) return mesh();
  if (r === 1) return subset({ app: pick(SERVICES) });
  return service(pick(SERVICES));
}

function randomSet(): MeshTrafficPermission[] {
  return Array.from({ length: 1 + random(4) }, (_, i) =>
    mtp(
      `p${i}`,
      randomTopTarget(),
      Array.from({ length: 1 + random(3) }, () => [randomEntryTarget(), pick(ACTIONS)] as const),
    ),
  );
}

describe('converted sets decide like their from sets', () => {
  it('on 500 random sets: every generated client on every generated inbound, whenever the converter says so', () => {
    next = seededRandom(0xc0de);
    let exact = 0;
    let checked = 0;
    for (let n = 0; n < 500; n++) {
      const policies = randomSet();
      const set = policySet(policies);
      const result = convertToRules(set);
      // One policy alone has no joined list to differ from: its translation must always hold.
      if (policies.length === 1 && result.notConverted.length === 0) expect(result.mismatches).toEqual([]);
      if (result.notConverted.length > 0 || result.mismatches.length > 0) continue;
      exact++;
      const names = new Set(result.converted.map((p) => p.name));
      const converted = policySet([...policies.filter((p) => !names.has(p.name)), ...result.converted]);
      const before = compilePolicySet(set);
      const after = compilePolicySet(converted);
      for (const s of [...SERVICES, 'unnamed']) {
        for (const app of [undefined, ...SERVICES]) {
          const tags = new Map([['kuma.io/service', s]]);
          if (app !== undefined) tags.set('app', app);
          if (random(2) === 0) tags.set('version', 'v1');
          const inbound = makeDestination('default', tags);
          for (const c of [...SERVICES, 'stranger']) {
            const client = clientFromUris([`spiffe://default/${c}`]);
            checked++;
            expect(decide(after, inbound, client).action, JSON.stringify({ policies, s, app, c })).toBe(
              decide(before, inbound, client).action,
            );
          }
        }
      }
    }
    expect(exact).toBeGreaterThan(100);
    expect(checked).toBeGreaterThan(10_000);
  });
});
