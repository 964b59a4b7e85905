/**
 * Deciding with `spec.rules` (Kuma 2.14): deny before allowWithShadowDeny before allow across all
 * selected rules policies, matches on the URI SANs joined with `,`, from policies ignored on an
 * inbound a rules policy selects, no trust-domain check, Dataplane targets, SNI matches.
 */
import { describe, expect, it } from 'vitest';
import { DecisionCache } from '../../src/decision/cache.js';
import { decide } from '../../src/decision/decide.js';
import { clientFromUris, makeDestination, NO_CLIENT } from '../../src/decision/identity.js';
import type { Client, Destination } from '../../src/decision/types.js';
import { compilePolicySet, compileTables } from '../../src/policy/compile.js';
import type { MeshTrafficPermission } from '../../src/policy/types.js';
import { dest, mesh, meshDoc, mtp, policySet, service, subset } from '../support/policies.js';
import { exact, prefix, rule, rulesMtp, sni } from '../support/rules-policies.js';

function run(policies: MeshTrafficPermission[], d: Destination, c: Client) {
  return decide(compilePolicySet(policySet(policies, [meshDoc('default', 'strict')])), d, c);
}

const sans = (...uris: string[]): Client => clientFromUris(uris);
const backend = dest('backend', { app: 'backend' });
const ORDERS = 'spiffe://default/orders';
const WEB = 'spiffe://default.zone-1.mesh.local/ns/kuma-demo/sa/web';

describe('precedence across rules policies', () => {
  // "a" sorts after "z" (name descending), so z-policy comes first in Kuma's order.
  const allowAll = rulesMtp('a-allow', mesh(), [rule({ allow: [prefix('spiffe://default')] })]);
  const denyOrders = rulesMtp('z-deny', mesh(), [rule({ deny: [exact(ORDERS)] })]);
  const shadowOrders = rulesMtp('m-shadow', mesh(), [rule({ allowWithShadowDeny: [exact(ORDERS)] })]);

  it('denies on any deny match, whatever the order of the policies', () => {
    for (const set of [
      [allowAll, denyOrders],
      [denyOrders, allowAll],
      [allowAll, shadowOrders, denyOrders],
    ]) {
      expect(run(set, backend, sans(ORDERS))).toMatchObject({
        action: 'Deny',
        via: 'rule',
        decidedBy: {
          policy: 'z-deny',
          ruleIndex: 0,
          match: { list: 'deny', index: 0, spiffeID: exact(ORDERS).spiffeID },
        },
      });
    }
  });

  it('allows with a shadow deny when an allowWithShadowDeny match holds and no deny does', () => {
    expect(run([allowAll, shadowOrders], backend, sans(ORDERS))).toMatchObject({
      action: 'AllowWithShadowDeny',
      decidedBy: { policy: 'm-shadow', ruleIndex: 0, match: { list: 'allowWithShadowDeny', index: 0 } },
    });
  });

  it('allows on an allow match alone, and denies with no-matching-rule when nothing matches', () => {
    expect(run([allowAll, denyOrders], backend, sans('spiffe://default/web'))).toMatchObject({
      action: 'Allow',
      decidedBy: { policy: 'a-allow', ruleIndex: 0 },
      policies: ['z-deny', 'a-allow'],
    });
    expect(run([denyOrders], backend, sans('spiffe://default/web'))).toEqual({
      action: 'Deny',
      via: 'no-matching-rule',
      decidedBy: null,
      policies: ['z-deny'],
    });
  });

  it('names the first deciding policy in Kuma order, and the rule and match within it', () => {
    const first = rulesMtp('b', mesh(), [
      rule({ allow: [exact('spiffe://default/x')] }),
      rule({ allow: [exact('spiffe://default/y'), prefix('spiffe://default/')] }),
    ]);
    const second = rulesMtp('a', mesh(), [rule({ allow: [prefix('spiffe://default')] })]);
    expect(run([second, first], backend, sans('spiffe://default/web')).decidedBy).toEqual({
      policy: 'b',
      ruleIndex: 1,
      match: { list: 'allow', index: 1, spiffeID: { type: 'Prefix', value: 'spiffe://default/' } },
    });
  });
});

describe('matching the joined URI SANs, as Envoy does', () => {
  const allowOrders = rulesMtp('p', mesh(), [rule({ allow: [exact(ORDERS)] })]);

  it('Exact matches only a certificate whose SANs are exactly that one URI', () => {
    expect(run([allowOrders], backend, sans(ORDERS)).action).toBe('Allow');
    expect(run([allowOrders], backend, sans(ORDERS, 'kuma://env/prod'))).toMatchObject({
      action: 'Deny',
      via: 'no-matching-rule',
    });
  });

  it('Prefix is a raw string prefix of the joined SANs: only the first SAN can start it', () => {
    const td1 = rulesMtp('p', mesh(), [rule({ allow: [prefix('spiffe://td1')] })]);
    expect(run([td1], backend, sans('spiffe://td1.evil/attacker')).action).toBe('Allow');
    expect(run([td1], backend, sans('spiffe://td1/a', 'kuma://env/prod')).action).toBe('Allow');
    expect(run([td1], backend, sans('spiffe://td2/a', 'spiffe://td1/a')).action).toBe('Deny');
  });

  it('a deny by Exact does not catch a client with a second SAN (Kuma does the same)', () => {
    const set = [
      rulesMtp('allow', mesh(), [rule({ allow: [prefix('spiffe://default/')] })]),
      rulesMtp('deny', mesh(), [rule({ deny: [exact(ORDERS)] })]),
    ];
    expect(run(set, backend, sans(ORDERS)).action).toBe('Deny');
    expect(run(set, backend, sans(ORDERS, 'kuma://team/x')).action).toBe('Allow');
  });

  it('has no trust-domain check: MeshIdentity layouts of any trust domain are matched as written', () => {
    const set = [rulesMtp('p', mesh(), [rule({ allow: [exact(WEB)] })])];
    expect(run(set, backend, sans(WEB))).toMatchObject({ action: 'Allow', via: 'rule' });
    // The same client against a from policy of that mesh is of another mesh.
    expect(run([mtp('f', mesh(), [[mesh(), 'Allow']])], backend, sans(WEB)).via).toBe('mesh-mismatch');
  });

  it('a match with both spiffeID and sni needs both; a match with neither never matches', () => {
    const both = { ...exact(ORDERS), ...sni('backend.mesh') };
    const set = [rulesMtp('p', mesh(), [rule({ allow: [both, {}] })])];
    const withSni = makeDestination('default', new Map([['kuma.io/service', 'backend']]), 'backend.mesh');
    const otherSni = makeDestination('default', new Map([['kuma.io/service', 'backend']]), 'other.mesh');
    expect(run(set, withSni, sans(ORDERS)).action).toBe('Allow');
    expect(run(set, otherSni, sans(ORDERS)).action).toBe('Deny');
    expect(run(set, backend, sans(ORDERS)).action).toBe('Deny');
  });
});

describe('rules and from policies on one mesh', () => {
  const fromAllowAll = mtp('from-allow', mesh(), [[mesh(), 'Allow']]);
  const rulesOnBackend = rulesMtp('rules-backend', service('backend'), [rule({ deny: [exact(ORDERS)] })]);

  it('ignores every from policy on an inbound a rules policy selects', () => {
    const decision = run([fromAllowAll, rulesOnBackend], backend, sans('spiffe://default/web'));
    expect(decision).toEqual({
      action: 'Deny',
      via: 'no-matching-rule',
      decidedBy: null,
      policies: ['rules-backend'],
    });
    const table = compilePolicySet(policySet([fromAllowAll, rulesOnBackend]));
    expect(table.program(backend).rules?.ignoredFromPolicies).toEqual(['from-allow']);
  });

  it('keeps the from policies on inbounds no rules policy selects', () => {
    expect(run([fromAllowAll, rulesOnBackend], dest('payments'), sans(ORDERS))).toMatchObject({
      action: 'Allow',
      decidedBy: { policy: 'from-allow', fromIndex: 0 },
    });
  });

  it('decides rules only for a client the mesh state lets through to policies', () => {
    const d = dest('backend');
    const c = sans(ORDERS);
    const set = (mtls: 'disabled' | 'permissive') =>
      compilePolicySet(policySet([rulesOnBackend], [meshDoc('default', mtls)]));
    expect(decide(set('disabled'), d, c).via).toBe('mtls-disabled');
    expect(decide(set('permissive'), d, NO_CLIENT).via).toBe('permissive-plaintext');
    expect(decide(set('permissive'), d, c).action).toBe('Deny');
  });
});

describe('top-level Dataplane targets', () => {
  const allow = [rule({ allow: [exact(ORDERS)] })];
  const c = sans(ORDERS);

  it('selects by labels, by name and namespace, and by section name, as destination tags', () => {
    const byLabels = rulesMtp('l', { kind: 'Dataplane', labels: { app: 'backend' } }, allow);
    const byName = rulesMtp('n', { kind: 'Dataplane', name: 'backend-1' }, allow, { namespace: 'demo' });
    const bySection = rulesMtp('s', { kind: 'Dataplane', sectionName: 'http' }, allow);
    const tagged = (tags: Record<string, string>) => dest('backend', tags);
    expect(run([byLabels], tagged({ app: 'backend' }), c).action).toBe('Allow');
    expect(run([byLabels], tagged({ app: 'web' }), c).via).toBe('no-policy');
    const named = { 'kuma.io/display-name': 'backend-1', 'k8s.kuma.io/namespace': 'demo' };
    expect(run([byName], tagged(named), c).action).toBe('Allow');
    expect(run([byName], tagged({ ...named, 'k8s.kuma.io/namespace': 'other' }), c).via).toBe('no-policy');
    expect(run([bySection], tagged({ 'mtp.section-name': 'http' }), c).action).toBe('Allow');
    expect(run([bySection], tagged({ 'mtp.section-name': 'grpc' }), c).via).toBe('no-policy');
  });

  it('orders a Dataplane policy after Mesh and before MeshSubset (Kuma 2.14)', () => {
    const policies = [
      mtp('sub', subset({ app: 'backend' }), [[mesh(), 'Allow']]),
      mtp('dp', { kind: 'Dataplane' }, [[mesh(), 'Deny']]),
      mtp('all', mesh(), [[mesh(), 'Deny']]),
    ];
    expect(run(policies, backend, c)).toMatchObject({ policies: ['all', 'dp', 'sub'], action: 'Allow' });
  });
});

describe('caches and shadow policies', () => {
  it('never answers one SAN order from the cached answer of another', () => {
    const set = [rulesMtp('p', mesh(), [rule({ allow: [prefix('spiffe://default/orders')] })])];
    const table = compilePolicySet(policySet(set));
    const cache = new DecisionCache(100);
    const first = clientFromUris([ORDERS, 'kuma://env/prod']);
    const second = clientFromUris(['kuma://env/prod', ORDERS]);
    expect(cache.decide(table, backend, first).action).toBe('Allow');
    expect(cache.decide(table, backend, second).action).toBe('Deny');
    expect(cache.decide(table, backend, first).action).toBe('Allow');
  });

  it('a shadow rules policy takes its inbound over from the from policies in the shadow table only', () => {
    const shadow = rulesMtp('try-rules', mesh(), [rule({ deny: [exact(ORDERS)] })], {
      labels: { 'kuma.io/effect': 'shadow' },
    });
    const tables = compileTables(policySet([mtp('allow', mesh(), [[mesh(), 'Allow']]), shadow]), 1);
    expect(decide(tables.table, backend, sans(ORDERS)).action).toBe('Allow');
    expect(tables.shadowTable && decide(tables.shadowTable, backend, sans(ORDERS))).toMatchObject({
      action: 'Deny',
      decidedBy: { policy: 'try-rules', ruleIndex: 0 },
    });
  });
});
