import { describe, expect, it } from 'vitest';
import { decide } from '../../src/decision/decide.js';
import { clientFromUris, invalidClient, makeDestination, NO_CLIENT } from '../../src/decision/identity.js';
import type { Client, Destination } from '../../src/decision/types.js';
import { compilePolicySet } from '../../src/policy/compile.js';
import type { Action, MeshTrafficPermission, TargetRef } from '../../src/policy/types.js';
import {
  client,
  dest,
  mesh,
  meshDoc,
  mtp,
  policySet,
  RING_POLICY,
  service,
  serviceSubset,
  subset,
} from '../support/policies.js';

function run(
  policies: MeshTrafficPermission[],
  d: Destination,
  c: Client,
  meshes = [meshDoc('default', 'strict')],
) {
  return decide(compilePolicySet(policySet(policies, meshes)), d, c);
}

// The examples of the MeshTrafficPermission page, each on its own.
const allowOrders = mtp('allow-orders', subset({ app: 'payments' }), [
  [subset({ 'kuma.io/service': 'orders' }), 'Allow'],
]);
const denyAll = mtp('deny-all', mesh(), [[mesh(), 'Deny']]);
const allowAll = mtp('allow-all', mesh(), [[mesh(), 'Allow']]);
const withTags = mtp('example-with-tags', mesh(), [
  [subset({ 'kuma.io/zone': 'us-east' }), 'Allow'],
  [subset({ env: 'dev' }), 'Deny'],
]);

describe('the MeshTrafficPermission page examples', () => {
  const payments = dest('payments', { app: 'payments' });
  it.each([
    ['payments allows orders', [allowOrders], payments, client('orders'), 'Allow', 'allow-orders', 0],
    ['payments does not allow web', [allowOrders], payments, client('web'), 'Deny', null, null],
    [
      'allow-orders does not select other inbounds',
      [allowOrders],
      dest('web', { app: 'web' }),
      client('orders'),
      'Deny',
      null,
      null,
    ],
    ['deny-all denies everyone', [denyAll], dest('backend'), client('web'), 'Deny', 'deny-all', 0],
    ['allow-all allows everyone', [allowAll], dest('backend'), client('web'), 'Allow', 'allow-all', 0],
    [
      'zone us-east is allowed',
      [withTags],
      dest('backend'),
      client('web', { 'kuma.io/zone': 'us-east' }),
      'Allow',
      'example-with-tags',
      0,
    ],
    [
      'env dev is denied',
      [withTags],
      dest('backend'),
      client('web', { env: 'dev' }),
      'Deny',
      'example-with-tags',
      1,
    ],
    // "Request from the proxy that has both kuma.io/zone: east and env: dev will be denied."
    [
      'both tags: the later Deny wins',
      [withTags],
      dest('backend'),
      client('web', { 'kuma.io/zone': 'us-east', env: 'dev' }),
      'Deny',
      'example-with-tags',
      1,
    ],
    [
      'neither tag: implicit deny',
      [withTags],
      dest('backend'),
      client('web', { env: 'prod' }),
      'Deny',
      null,
      null,
    ],
    [
      'deny-all plus allow-orders: payments still allows orders',
      [denyAll, allowOrders],
      payments,
      client('orders'),
      'Allow',
      'allow-orders',
      0,
    ],
    [
      'deny-all plus allow-orders: others are denied by deny-all',
      [denyAll, allowOrders],
      payments,
      client('web'),
      'Deny',
      'deny-all',
      0,
    ],
  ] as const)('%s', (_name, policies, d, c, action, policy, fromIndex) => {
    const decision = run([...policies], d, c);
    expect(decision.action).toBe(action);
    expect(decision.decidedBy).toEqual(policy === null ? null : { policy, fromIndex });
    expect(decision.via).toBe(
      policy === null ? (decision.policies.length ? 'no-matching-from' : 'no-policy') : 'rule',
    );
  });
});

describe('policy ordering', () => {
  const d = dest('backend', { version: 'v1' });
  const allowFrom = (name: string, ref = mesh(), opts = {}) => mtp(name, ref, [[mesh(), 'Allow']], opts);
  const denyFrom = (name: string, ref = mesh(), opts = {}) => mtp(name, ref, [[mesh(), 'Deny']], opts);

  it('orders least specific kind first, so a more specific kind wins whatever the names', () => {
    const decision = run(
      [
        allowFrom('a-mesh'),
        denyFrom('z-subset', subset({ version: 'v1' })),
        allowFrom('z-service', service('backend')),
        denyFrom('z-service-subset', serviceSubset('backend', { version: 'v1' })),
      ],
      d,
      client('web'),
    );
    expect(decision.policies).toEqual(['a-mesh', 'z-subset', 'z-service', 'z-service-subset']);
    expect(decision).toMatchObject({
      action: 'Deny',
      decidedBy: { policy: 'z-service-subset', fromIndex: 0 },
    });
  });

  it('among equal kinds, the lexicographically smaller name comes last and wins', () => {
    const decision = run([allowFrom('bbb'), denyFrom('aaa'), allowFrom('ccc')], d, client('web'));
    expect(decision.policies).toEqual(['ccc', 'bbb', 'aaa']);
    expect(decision.decidedBy).toEqual({ policy: 'aaa', fromIndex: 0 });
    expect(decision.action).toBe('Deny');
  });

  it('orders by origin: global, then none, then zone', () => {
    const decision = run(
      [
        allowFrom('a', mesh(), { labels: { 'kuma.io/origin': 'zone' } }),
        denyFrom('b'),
        denyFrom('c', mesh(), { labels: { 'kuma.io/origin': 'global' } }),
      ],
      d,
      client('web'),
    );
    expect(decision.policies).toEqual(['c', 'b', 'a']);
    expect(decision).toMatchObject({ action: 'Allow', decidedBy: { policy: 'a' } });
  });

  it('origin does not outrank kind', () => {
    const decision = run(
      [
        allowFrom('zonal', mesh(), { labels: { 'kuma.io/origin': 'zone' } }),
        denyFrom('svc', service('backend')),
      ],
      d,
      client('web'),
    );
    expect(decision.policies).toEqual(['zonal', 'svc']);
    expect(decision.action).toBe('Deny');
  });

  it('orders by kuma.io/display-name when set, not by the resource name', () => {
    const decision = run(
      [
        allowFrom('aaa-hashed-name', mesh(), { labels: { 'kuma.io/display-name': 'zzz' } }),
        denyFrom('mmm', mesh()),
      ],
      d,
      client('web'),
    );
    expect(decision.policies).toEqual(['aaa-hashed-name', 'mmm']);
    expect(decision).toMatchObject({ action: 'Deny', decidedBy: { policy: 'mmm' } });
  });

  it('an empty kuma.io/display-name counts as unset: the name sorts', () => {
    const decision = run(
      [allowFrom('zzz', mesh(), { labels: { 'kuma.io/display-name': '' } }), denyFrom('mmm', mesh())],
      d,
      client('web'),
    );
    expect(decision.policies).toEqual(['zzz', 'mmm']);
    expect(decision).toMatchObject({ action: 'Deny', decidedBy: { policy: 'mmm' } });
  });
});

describe('top-level MeshServiceSubset with a kuma.io/service tag', () => {
  // Kuma's matcher starts from kuma.io/service: <name> and lets the tags override it.
  const policy = mtp('p', serviceSubset('backend', { 'kuma.io/service': 'db' }), [[mesh(), 'Allow']]);

  it('selects the service its tags name', () => {
    expect(run([policy], dest('db'), client('web'))).toMatchObject({
      action: 'Allow',
      policies: ['p'],
      decidedBy: { policy: 'p', fromIndex: 0 },
    });
  });

  it('does not select the service its name gives', () => {
    expect(run([policy], dest('backend'), client('web'))).toMatchObject({ action: 'Deny', via: 'no-policy' });
  });

  it('still requires its other tags', () => {
    const tagged = mtp('t', serviceSubset('backend', { 'kuma.io/service': 'db', version: 'v1' }), [
      [mesh(), 'Allow'],
    ]);
    expect(run([tagged], dest('db', { version: 'v1' }), client('web')).action).toBe('Allow');
    expect(run([tagged], dest('db', { version: 'v2' }), client('web')).via).toBe('no-policy');
  });
});

describe('tag keys that are Object.prototype names', () => {
  it('__proto__ and constructor select and cover like any other key', () => {
    // fromEntries defines own keys, as the validator's null-prototype maps hold them.
    const tags: Record<string, string> = Object.fromEntries([
      ['__proto__', 'y'],
      ['constructor', 'z'],
    ]);
    const top: Record<string, string> = Object.fromEntries([['__proto__', 'x']]);
    const policy = mtp('p', subset(top), [[subset(tags), 'Allow']]);
    const inbound = makeDestination(
      'default',
      new Map([
        ['kuma.io/service', 'b'],
        ['__proto__', 'x'],
      ]),
    );
    const uris = ['spiffe://default/web', 'kuma://__proto__/y', 'kuma://constructor/z'];
    expect(run([policy], inbound, clientFromUris(uris))).toMatchObject({ action: 'Allow', via: 'rule' });
    expect(run([policy], inbound, clientFromUris(uris.slice(0, 2))).via).toBe('no-matching-from');
    expect(run([policy], dest('b'), clientFromUris(uris)).via).toBe('no-policy');
  });
});

describe('last covering entry wins', () => {
  it('a later, broader entry overrides an earlier narrower one inside one policy', () => {
    const policy = mtp('p', mesh(), [
      [service('web'), 'Allow'],
      [mesh(), 'Deny'],
    ]);
    expect(run([policy], dest('backend'), client('web'))).toMatchObject({
      action: 'Deny',
      decidedBy: { fromIndex: 1 },
    });
  });

  it('a later, broader entry overrides an earlier narrower one across policies', () => {
    const narrow = mtp('b-narrow', mesh(), [[subset({ 'kuma.io/service': 'web', env: 'prod' }), 'Allow']]);
    const broad = mtp('a-broad', mesh(), [[subset({ env: 'prod' }), 'Deny']]);
    const decision = run([narrow, broad], dest('backend'), client('web', { env: 'prod' }));
    expect(decision.policies).toEqual(['b-narrow', 'a-broad']);
    expect(decision).toMatchObject({ action: 'Deny', decidedBy: { policy: 'a-broad', fromIndex: 0 } });
  });

  it('an earlier entry still decides for clients the later one does not cover', () => {
    const policy = mtp('p', mesh(), [
      [mesh(), 'Allow'],
      [subset({ env: 'dev' }), 'Deny'],
    ]);
    expect(run([policy], dest('backend'), client('web', { env: 'prod' }))).toMatchObject({
      action: 'Allow',
      decidedBy: { fromIndex: 0 },
    });
  });

  it('MeshServiceSubset in from needs both the service and the tags', () => {
    const policy = mtp('p', mesh(), [[serviceSubset('web', { version: 'v2' }), 'Allow']]);
    expect(run([policy], dest('b'), client('web', { version: 'v2' })).action).toBe('Allow');
    expect(run([policy], dest('b'), client('web', { version: 'v1' })).action).toBe('Deny');
    expect(run([policy], dest('b'), client('api', { version: 'v2' })).action).toBe('Deny');
  });

  it('AllowWithShadowDeny allows and names its policy', () => {
    const policy = mtp('shadowy', mesh(), [[mesh(), 'AllowWithShadowDeny']]);
    expect(run([policy], dest('b'), client('web'))).toEqual({
      action: 'AllowWithShadowDeny',
      via: 'rule',
      decidedBy: { policy: 'shadowy', fromIndex: 0 },
      policies: ['shadowy'],
    });
  });
});

describe('policy selection', () => {
  it('a Mesh targetRef limited to Gateway proxies selects no sidecar inbound', () => {
    const gatewayOnly = mtp('gw', { kind: 'Mesh', proxyTypes: ['Gateway'] }, [[mesh(), 'Allow']]);
    const both = mtp('both', { kind: 'Mesh', proxyTypes: ['Sidecar', 'Gateway'] }, [[mesh(), 'Allow']]);
    expect(run([gatewayOnly], dest('b'), client('web')).via).toBe('no-policy');
    expect(run([both], dest('b'), client('web')).action).toBe('Allow');
  });

  it('MeshSubset selects inbounds carrying all its tags', () => {
    const p = mtp('p', subset({ app: 'x', version: 'v1' }), [[mesh(), 'Allow']]);
    expect(run([p], dest('b', { app: 'x', version: 'v1' }), client('web')).action).toBe('Allow');
    expect(run([p], dest('b', { app: 'x' }), client('web')).via).toBe('no-policy');
  });

  it('MeshServiceSubset selects the service with the tags', () => {
    const p = mtp('p', serviceSubset('b', { version: 'v1' }), [[mesh(), 'Allow']]);
    expect(run([p], dest('b', { version: 'v1' }), client('web')).action).toBe('Allow');
    expect(run([p], dest('b', { version: 'v2' }), client('web')).via).toBe('no-policy');
    expect(run([p], dest('c', { version: 'v1' }), client('web')).via).toBe('no-policy');
  });

  it('policies of another mesh are not selected', () => {
    const p = mtp('p', mesh(), [[mesh(), 'Allow']], { mesh: 'other' });
    expect(run([p], dest('b'), client('web')).via).toBe('no-policy');
  });

  it('shadow policies are not enforced unless compiled in', () => {
    const p = mtp('p', mesh(), [[mesh(), 'Deny']], { labels: { 'kuma.io/effect': 'shadow' } });
    const set = policySet([p]);
    expect(decide(compilePolicySet(set), dest('b'), client('web')).via).toBe('no-policy');
    expect(decide(compilePolicySet(set, { includeShadow: true }), dest('b'), client('web')).action).toBe(
      'Deny',
    );
  });
});

describe('every via', () => {
  const allow = [mtp('allow-all', mesh(), [[mesh(), 'Allow']])];
  it.each([
    ['rule', allow, dest('b'), client('web'), 'strict', 'Allow'],
    [
      'no-matching-from',
      [mtp('p', mesh(), [[service('x'), 'Allow']])],
      dest('b'),
      client('web'),
      'strict',
      'Deny',
    ],
    ['no-policy', [], dest('b'), client('web'), 'strict', 'Deny'],
    ['mtls-disabled', [], dest('b'), NO_CLIENT, 'disabled', 'Allow'],
    ['permissive-plaintext', [], dest('b'), NO_CLIENT, 'permissive', 'Allow'],
    ['no-identity', allow, dest('b'), NO_CLIENT, 'strict', 'Deny'],
    ['mesh-mismatch', allow, dest('b'), client('web', {}, 'other'), 'strict', 'Deny'],
    ['invalid-identity', allow, dest('b'), invalidClient('garbage'), 'strict', 'Deny'],
    ['no-destination', allow, undefined, client('web'), 'strict', 'Deny'],
  ] as const)('%s', (via, policies, d, c, mtls, action) => {
    const decision = run([...policies], d as Destination, c, [meshDoc('default', mtls)]);
    expect(decision.via).toBe(via);
    expect(decision.action).toBe(action);
    if (via !== 'rule') expect(decision.decidedBy).toBeNull();
  });

  it('a permissive mesh still enforces policies on clients that present an identity', () => {
    const deny = [mtp('deny', mesh(), [[mesh(), 'Deny']])];
    expect(run(deny, dest('b'), client('web'), [meshDoc('default', 'permissive')]).action).toBe('Deny');
  });

  it('a mesh with no Mesh document is STRICT', () => {
    expect(run([], dest('b'), NO_CLIENT, []).via).toBe('no-identity');
  });

  it('mesh-mismatch and no-identity report no policies', () => {
    expect(run(allow, dest('b'), client('web', {}, 'other')).policies).toEqual([]);
  });
});

describe('clients with several values for a tag (several inbounds)', () => {
  it('from [MeshService a: Allow, MeshService b: Deny], a client carrying a and b is allowed', () => {
    const p = mtp('p', mesh(), [
      [service('a'), 'Allow'],
      [service('b'), 'Deny'],
    ]);
    expect(run([p], dest('x'), client(['a', 'b']))).toMatchObject({
      action: 'Allow',
      decidedBy: { fromIndex: 0 },
    });
    expect(run([p], dest('x'), client(['b', 'a']))).toMatchObject({
      action: 'Allow',
      decidedBy: { fromIndex: 0 },
    });
    expect(run([p], dest('x'), client('b')).action).toBe('Deny');
  });

  it('a Mesh-wide Deny after an Allow denies every combination', () => {
    const p = mtp('p', mesh(), [
      [service('a'), 'Allow'],
      [mesh(), 'Deny'],
    ]);
    expect(run([p], dest('x'), client(['a', 'b'])).action).toBe('Deny');
  });

  it('a Deny naming a value the client carries is not escaped through another value of that key', () => {
    // Atoms {svc=a, env=dev} → Deny and {svc=a, env≠dev}; a client carrying env=dev and env=prod
    // satisfies only the first, because its env=dev SAN fails the negation.
    const p = mtp('p', mesh(), [
      [service('a'), 'Allow'],
      [serviceSubset('a', { env: 'dev' }), 'Deny'],
    ]);
    expect(run([p], dest('x'), client('a', { env: ['dev', 'prod'] })).action).toBe('Deny');
    expect(run([p], dest('x'), client('a', { env: ['prod', 'qa'] })).action).toBe('Allow');
  });

  it('a matched AllowWithShadowDeny atom makes it AllowWithShadowDeny even beside a matched Allow atom', () => {
    // Envoy allows on either atom, and its shadow rules (the AllowWithShadowDeny atoms alone) deny.
    const allowFirst = mtp('p', mesh(), [
      [service('a'), 'Allow'],
      [service('b'), 'AllowWithShadowDeny'],
    ]);
    expect(run([allowFirst], dest('x'), client(['a', 'b']))).toMatchObject({
      action: 'AllowWithShadowDeny',
      via: 'rule',
      decidedBy: { policy: 'p', fromIndex: 1 },
    });
    const shadowFirst = mtp('p', mesh(), [
      [service('a'), 'AllowWithShadowDeny'],
      [service('b'), 'Allow'],
    ]);
    expect(run([shadowFirst], dest('x'), client(['a', 'b']))).toMatchObject({
      action: 'AllowWithShadowDeny',
      decidedBy: { fromIndex: 0 },
    });
    expect(run([shadowFirst], dest('x'), client(['b', 'c'])).action).toBe('Allow');
  });

  it('an AllowWithShadowDeny entry overridden in every matched atom does not count', () => {
    const p = mtp('p', mesh(), [
      [service('a'), 'AllowWithShadowDeny'],
      [service('b'), 'Allow'],
      [subset({ env: 'prod' }), 'Deny'],
      [serviceSubset('b', { env: 'prod' }), 'Allow'],
    ]);
    // {a, env=prod} → Deny (the Deny comes later); {b, env=prod} → Allow.
    expect(run([p], dest('x'), client(['a', 'b'], { env: 'prod' }))).toMatchObject({
      action: 'Allow',
      decidedBy: { fromIndex: 3 },
    });
  });

  it('the last AllowWithShadowDeny entry some matched atom reaches decides', () => {
    const p = mtp('p', mesh(), [
      [service('a'), 'AllowWithShadowDeny'],
      [service('b'), 'AllowWithShadowDeny'],
      [service('c'), 'Deny'],
    ]);
    expect(run([p], dest('x'), client(['a', 'b', 'c']))).toMatchObject({
      action: 'AllowWithShadowDeny',
      decidedBy: { fromIndex: 1 },
    });
  });

  it('denied multi-valued clients name the last covering entry', () => {
    const p = mtp('p', mesh(), [
      [service('a'), 'Deny'],
      [service('b'), 'Deny'],
      [service('c'), 'Allow'],
    ]);
    expect(run([p], dest('x'), client(['b', 'a']))).toMatchObject({
      action: 'Deny',
      via: 'rule',
      decidedBy: { fromIndex: 1 },
    });
  });

  it("components are Kuma's: a subset naming two services joins otherwise separate components", () => {
    // Alone, {team=x} and {team=x, env=1} form one component and {team=y, env=2} another: the client
    // (team=x, env 1 and 2) must pick env=1 in the first, so {team=x, env=1} denies. The
    // MeshServiceSubset {kuma.io/service: a and b} intersects all three and joins them: env=2 then
    // becomes a choice of the one component, under which only {team=x} (Allow) is contained.
    const base: [TargetRef, Action][] = [
      [subset({ team: 'x' }), 'Allow'],
      [subset({ team: 'x', env: '1' }), 'Deny'],
      [subset({ team: 'y', env: '2' }), 'Allow'],
    ];
    const who = client('web', { team: 'x', env: ['1', '2'] });
    expect(run([mtp('p', mesh(), base)], dest('x'), who).action).toBe('Deny');
    const bridge: [TargetRef, Action] = [serviceSubset('a', { 'kuma.io/service': 'b' }), 'Deny'];
    expect(run([mtp('p', mesh(), [...base, bridge])], dest('x'), who)).toMatchObject({
      action: 'Allow',
      decidedBy: { fromIndex: 0 },
    });
  });

  it('an entry decides the atoms of every component naming all its tags, even for one value per key', () => {
    const p = RING_POLICY;
    expect(run([p], dest('b'), client('web', { x: '1', y: '1', z: '1', w: '1' }))).toMatchObject({
      action: 'AllowWithShadowDeny',
      decidedBy: { fromIndex: 0 },
    });
    expect(run([p], dest('b'), client('web', { x: '1', y: '1', z: '2', w: '1' }))).toMatchObject({
      action: 'Deny',
      decidedBy: { fromIndex: 4 },
    });
  });

  it('no covering entry in any component: no-matching-from', () => {
    const p = mtp('p', mesh(), [[service('c'), 'Allow']]);
    expect(run([p], dest('x'), client(['a', 'b']))).toMatchObject({
      action: 'Deny',
      via: 'no-matching-from',
    });
  });

  it('multi-valued identities are read from SANs', () => {
    const c = clientFromUris(['spiffe://default/a', 'spiffe://default/b', 'kuma://env/dev']);
    expect(c.kind === 'identity' && c.identity.multiValued).toBe(true);
  });
});
