/**
 * The multi-valued evaluation's cost: bounded, and linear in what the certificate and the policies
 * hold. Measured in work units (deterministic, unaffected by machine load) rather than by a clock.
 */
import { describe, expect, it } from 'vitest';
import { buildAtomIndex } from '../../src/decision/atom-index.js';
import { decide } from '../../src/decision/decide.js';
import { clientFromUris } from '../../src/decision/identity.js';
import { evaluateMultiValued, MULTI_VALUED_WORK_LIMIT, WorkBudget } from '../../src/decision/multi-valued.js';
import type { Client, ClientIdentity } from '../../src/decision/types.js';
import { compilePolicySet } from '../../src/policy/compile.js';
import type { Action, MeshTrafficPermission, TargetRef } from '../../src/policy/types.js';
import { referenceDecision } from '../support/kuma-reference.js';
import { dest, mesh, mtp, policySet, service, serviceSubset, subset } from '../support/policies.js';

function identityOf(client: Client): ClientIdentity {
  if (client.kind !== 'identity') throw new Error(`not an identity: ${JSON.stringify(client)}`);
  return client.identity;
}

/** Decision, and the work the evaluation spent on it. */
function evaluate(policies: MeshTrafficPermission[], uris: string[]) {
  const table = compilePolicySet(policySet(policies));
  // The evaluation's own cost is under test here, so the SAN count bound is set out of the way.
  const client = clientFromUris(uris, { maxUriSans: 10_000 });
  const budget = new WorkBudget();
  const index = buildAtomIndex(table.program(dest('backend')).entries);
  evaluateMultiValued(index, identityOf(client), budget);
  return { decision: decide(table, dest('backend'), client), spent: budget.spent };
}

const names = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/** A mesh-wide deny, an allow per service, and a deny per service in env=dev. */
function perService(services: readonly string[]): MeshTrafficPermission[] {
  const from: [TargetRef, Action][] = [[mesh(), 'Deny']];
  for (const s of services) from.push([service(s), 'Allow']);
  for (const s of services) from.push([serviceSubset(s, { env: 'dev' }), 'Deny']);
  from.push([subset({ env: 'qa' }), 'AllowWithShadowDeny']);
  return [mtp('per-service', mesh(), from)];
}

describe('cost of one multi-valued decision', () => {
  it('200 SPIFFE IDs: decided exactly, with work linear in the IDs and entries', () => {
    const small = names(200, 's');
    const large = names(400, 's');
    const at200 = evaluate(
      perService(small),
      small.map((s) => `spiffe://default/${s}`),
    );
    const at400 = evaluate(
      perService(large),
      large.map((s) => `spiffe://default/${s}`),
    );
    expect(at200.decision).toMatchObject({
      action: 'Allow',
      decidedBy: { policy: 'per-service', fromIndex: 200 },
    });
    expect(at400.decision.action).toBe('Allow');
    expect(at200.spent).toBeLessThan(MULTI_VALUED_WORK_LIMIT / 20);
    // Twice the certificate and twice the policy: about twice the work, not four times.
    expect(at400.spent / at200.spent).toBeLessThan(2.2);
  });

  it('200 SPIFFE IDs all denied in env=dev: every allow is examined once, still linear', () => {
    const small = names(200, 's');
    const large = names(400, 's');
    const uris = (list: string[]) => [...list.map((s) => `spiffe://default/${s}`), 'kuma://env/dev'];
    const at200 = evaluate(perService(small), uris(small));
    const at400 = evaluate(perService(large), uris(large));
    expect(at200.decision).toMatchObject({ action: 'Deny', decidedBy: { fromIndex: 400 } });
    expect(at400.decision).toMatchObject({ action: 'Deny', decidedBy: { fromIndex: 800 } });
    expect(at200.spent).toBeLessThan(MULTI_VALUED_WORK_LIMIT / 5);
    expect(at400.spent / at200.spent).toBeLessThan(2.2);
  });

  it('200 values of one kuma:// tag: decided exactly, work linear in the values', () => {
    const policy = (n: number) => [
      mtp('envs', mesh(), [
        [mesh(), 'Deny'],
        ...names(n, 'e').map((e): [TargetRef, Action] => [subset({ env: e, team: 't' }), 'Allow']),
        [subset({ env: 'e1' }), 'Deny'],
        [subset({ env: 'e2' }), 'AllowWithShadowDeny'],
      ]),
    ];
    const uris = (n: number) => [
      'spiffe://default/web',
      'kuma://team/t',
      ...names(n, 'e').map((e) => `kuma://env/${e}`),
    ];
    const at200 = evaluate(policy(200), uris(200));
    const at400 = evaluate(policy(400), uris(400));
    // env=e2 is the AllowWithShadowDeny atom; every other env value is an Allow atom.
    expect(at200.decision).toMatchObject({ action: 'AllowWithShadowDeny', decidedBy: { fromIndex: 202 } });
    expect(at200.spent).toBeLessThan(MULTI_VALUED_WORK_LIMIT / 20);
    expect(at400.spent / at200.spent).toBeLessThan(2.2);
  });

  it('past the work bound the client is denied with its own via, naming the selected policies', () => {
    // Nine keys, eight values each, a Deny for any two keys sharing a value: an Allow needs nine
    // different values out of eight (a pigeonhole), which no search shortcut sees through.
    const keys = names(9, 'k');
    const values = names(8, 'v');
    const from: [TargetRef, Action][] = [[mesh(), 'Allow']];
    keys.forEach((k, i) => {
      for (const other of keys.slice(i + 1))
        for (const v of values) from.push([subset({ [k]: v, [other]: v }), 'Deny']);
    });
    const uris = ['spiffe://default/web', ...keys.flatMap((k) => values.map((v) => `kuma://${k}/${v}`))];
    const { decision, spent } = evaluate([mtp('pigeons', mesh(), from)], uris);
    expect(decision).toEqual({
      action: 'Deny',
      via: 'identity-too-complex',
      decidedBy: null,
      policies: ['pigeons'],
    });
    expect(spent).toBeGreaterThan(MULTI_VALUED_WORK_LIMIT);
    expect(spent).toBeLessThan(MULTI_VALUED_WORK_LIMIT * 1.01);
  });

  it('the search finds the one allowing combination', () => {
    // The atoms range over env a|b and zone x|y (zone=y is named by the last entry, which this
    // client does not cover); only env=b with zone=y escapes both Denies.
    const p = mtp('p', mesh(), [
      [mesh(), 'Allow'],
      [subset({ env: 'a' }), 'Deny'],
      [subset({ env: 'b', zone: 'x' }), 'Deny'],
      [subset({ zone: 'y', team: 'q' }), 'Deny'],
    ]);
    const uris = ['spiffe://default/web', 'kuma://env/a', 'kuma://env/b', 'kuma://zone/x', 'kuma://zone/y'];
    expect(evaluate([p], uris).decision).toMatchObject({ action: 'Allow', decidedBy: { fromIndex: 0 } });
    const client = {
      mesh: 'default',
      tags: new Map([
        ['kuma.io/service', ['web']],
        ['env', ['a', 'b']],
        ['zone', ['x', 'y']],
      ]),
    };
    expect(referenceDecision([p], new Map([['kuma.io/service', 'backend']]), client)).toBe('Allow');
    // Without zone=y the client cannot leave both Denies.
    expect(evaluate([p], uris.slice(0, 4)).decision).toMatchObject({ action: 'Deny', via: 'rule' });
  });
});
