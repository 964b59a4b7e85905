import { describe, expect, it } from 'vitest';
import { SHADOW_EXAMPLES_PER_POLICY, ShadowRecord } from '../../src/console/shadow-record.js';
import { decide } from '../../src/decision/decide.js';
import { compileTables } from '../../src/policy/compile.js';
import { compareShadow } from '../../src/decision/shadow.js';
import { client, dest, meshDoc, policySet, SHADOW_DENY_ORDERS } from '../support/policies.js';

const { allowAll, tryDenyOrders, set: SET } = SHADOW_DENY_ORDERS;
const { table, shadowTable } = compileTables(SET, 1);

function check(record: ShadowRecord, from: string, to: string) {
  const destination = dest(to);
  const who = client(from);
  const enforced = decide(table, destination, who);
  const result = compareShadow(enforced, decide(shadowTable ?? table, destination, who));
  record.observe(SET, destination.mesh, result, () => ({
    decision: enforced,
    destination,
    client: who,
    shadow: result.difference,
  }));
}

describe('ShadowRecord', () => {
  it('counts the checks of the inbounds a shadow policy selects, by outcome, with the latest differences', () => {
    const record = new ShadowRecord(() => 0);
    check(record, 'orders', 'backend');
    check(record, 'web', 'backend');
    check(record, 'orders', 'frontend'); // the shadow policy does not select frontend
    const [summary] = record.summary(SET);
    expect(summary).toMatchObject({
      mesh: 'default',
      name: 'try-deny-orders',
      counts: { same: 1, would_allow: 0, would_deny: 1 },
    });
    expect(summary?.examples).toEqual([
      expect.objectContaining({
        decision: 'allow',
        source: 'spiffe://default/orders',
        shadow: {
          outcome: 'would_deny',
          action: 'Deny',
          via: 'rule',
          policy: 'try-deny-orders',
          fromIndex: 0,
        },
      }),
    ]);
  });

  it(`keeps at most ${SHADOW_EXAMPLES_PER_POLICY} examples per policy`, () => {
    const record = new ShadowRecord();
    for (let i = 0; i < 3 * SHADOW_EXAMPLES_PER_POLICY; i++) check(record, 'orders', 'backend');
    const [summary] = record.summary(SET);
    expect(summary?.counts.would_deny).toBe(3 * SHADOW_EXAMPLES_PER_POLICY);
    expect(summary?.examples).toHaveLength(SHADOW_EXAMPLES_PER_POLICY);
  });

  it('forgets a policy that is no longer a shadow policy after a reload', () => {
    const record = new ShadowRecord();
    check(record, 'orders', 'backend');
    const enforcedNow = policySet(
      [allowAll, { ...tryDenyOrders, labels: {} }],
      [meshDoc('default', 'strict')],
    );
    expect(record.summary(enforcedNow)).toEqual([]);
    expect(record.summary(SET)[0]?.counts).toEqual({ same: 0, would_allow: 0, would_deny: 0 });
  });
});
