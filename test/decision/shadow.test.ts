import { describe, expect, it } from 'vitest';
import { decide } from '../../src/decision/decide.js';
import type { Decision } from '../../src/decision/types.js';
import { compilePolicySet, compileTables } from '../../src/policy/compile.js';
import { compareShadow, isAllowed, shadowOutcome } from '../../src/decision/shadow.js';
import {
  client,
  dest,
  mesh,
  meshDoc,
  mtp,
  policySet,
  service,
  SHADOW,
  SHADOW_DENY_ORDERS,
} from '../support/policies.js';
import { exact, rule, rulesMtp } from '../support/rules-policies.js';

const orders = client('orders');
const backend = dest('backend', {});

const { allowAll, set: SET } = SHADOW_DENY_ORDERS;

describe('shadow policies', () => {
  it('a shadow Deny on allowed traffic is would_deny, and the enforced decision stays Allow', () => {
    const table = compilePolicySet(SET);
    const shadowTable = compileTables(SET, 1).shadowTable;
    expect(shadowTable).toBeDefined();
    const enforced = decide(table, backend, orders);
    const result = compareShadow(enforced, decide(shadowTable ?? table, backend, orders));

    expect(enforced).toMatchObject({
      action: 'Allow',
      via: 'rule',
      decidedBy: { policy: 'allow-all', fromIndex: 0 },
    });
    expect(result.outcome).toBe('would_deny');
    expect(result.shadow).toMatchObject({
      action: 'Deny',
      decidedBy: { policy: 'try-deny-orders', fromIndex: 0 },
    });
    expect(result.difference).toEqual({
      outcome: 'would_deny',
      action: 'Deny',
      via: 'rule',
      policy: 'try-deny-orders',
      fromIndex: 0,
    });
    // Deciding again on the enforced table gives the same Allow: the shadow run changed nothing.
    expect(decide(table, backend, orders)).toEqual(enforced);
  });

  it('a shadow Allow on denied traffic is would_allow', () => {
    const set = policySet(
      [
        mtp('deny-all', mesh(), [[mesh(), 'Deny']]),
        mtp('try-allow-orders', service('backend'), [[service('orders'), 'Allow']], { labels: SHADOW }),
      ],
      [meshDoc('default', 'strict')],
    );
    const enforced = decide(compilePolicySet(set), backend, orders);
    const shadowTable = compileTables(set, 1).shadowTable;
    if (shadowTable === undefined) throw new Error('expected a shadow table');
    const result = compareShadow(enforced, decide(shadowTable, backend, orders));
    expect(enforced.action).toBe('Deny');
    expect(result.outcome).toBe('would_allow');
    expect(result.difference).toEqual({
      outcome: 'would_allow',
      action: 'Allow',
      via: 'rule',
      policy: 'try-allow-orders',
      fromIndex: 0,
    });
  });

  it('traffic the shadow policy does not cover is same, with nothing to log', () => {
    const shadowTable = compileTables(SET, 1).shadowTable;
    if (shadowTable === undefined) throw new Error('expected a shadow table');
    const web = client('web');
    const enforced = decide(compilePolicySet(SET), backend, web);
    const result = compareShadow(enforced, decide(shadowTable, backend, web));
    expect(result.outcome).toBe('same');
    expect(result.difference).toBeNull();
  });

  it('compares allowed-ness only: AllowWithShadowDeny counts as allowed, a different Deny reason is same', () => {
    const d = (action: Decision['action'], via: Decision['via'] = 'rule'): Decision => ({
      action,
      via,
      decidedBy: null,
      policies: [],
    });
    expect(isAllowed('Allow')).toBe(true);
    expect(isAllowed('AllowWithShadowDeny')).toBe(true);
    expect(isAllowed('Deny')).toBe(false);
    expect(shadowOutcome(d('Allow'), d('AllowWithShadowDeny'))).toBe('same');
    expect(shadowOutcome(d('AllowWithShadowDeny'), d('Deny'))).toBe('would_deny');
    expect(shadowOutcome(d('Deny', 'no-policy'), d('Deny', 'rule'))).toBe('same');
    expect(shadowOutcome(d('Deny'), d('AllowWithShadowDeny'))).toBe('would_allow');
    expect(compareShadow(d('Deny'), d('Allow')).difference).toEqual({
      outcome: 'would_allow',
      action: 'Allow',
      via: 'rule',
      policy: null,
      fromIndex: null,
    });
  });

  it('a shadow table is compiled only when a policy is labelled kuma.io/effect: shadow', () => {
    expect(compileTables(SET, 1).shadowTable).toBeDefined();
    expect(compileTables(policySet([allowAll]), 1).shadowTable).toBeUndefined();
    const enforcedLabel = mtp('x', mesh(), [[mesh(), 'Allow']], { labels: { 'kuma.io/effect': 'enforce' } });
    expect(compileTables(policySet([enforcedLabel]), 1).shadowTable).toBeUndefined();
  });

  it('a shadow rules policy taking the inbound over is compared like any other, with its rule index', () => {
    const tryRules = rulesMtp(
      'try-rules',
      service('backend'),
      [rule({ deny: [exact('spiffe://default/orders')] })],
      {
        labels: SHADOW,
      },
    );
    const set = policySet([allowAll, tryRules], [meshDoc('default', 'strict')]);
    const tables = compileTables(set, 1);
    const enforced = decide(tables.table, backend, orders);
    const result = compareShadow(enforced, decide(tables.shadowTable ?? tables.table, backend, orders));
    expect(result.difference).toEqual({
      outcome: 'would_deny',
      action: 'Deny',
      via: 'rule',
      policy: 'try-rules',
      fromIndex: null,
      ruleIndex: 0,
    });
  });
});
