import { describe, expect, it } from 'vitest';
import {
  BUILTIN_ADMIN_ROLE,
  BUILTIN_DEFAULT_BINDING,
  builtinDefaultBinding,
  mergeBuiltins,
} from '../../src/admin/builtins.js';
import {
  type AuthorizeRequest,
  authorize,
  authorizeWrite,
  denial,
  type RbacConfig,
  sameTargetRef,
  USER_TOKEN_TYPE,
} from '../../src/admin/rbac.js';
import type { User } from '../../src/admin/users.js';
import type {
  AccessKind,
  AccessQualifier,
  AccessRule,
  MeshTrafficPermission,
} from '../../src/policy/types.js';
import { mesh, mtp, service, serviceSubset, subset } from '../support/policies.js';
import { exact, rule as mtpRule, rulesMtp } from '../support/rules-policies.js';
import { binding, group, RESTRICTED_DEFAULT, role, rule, user } from './rbac-builders.js';

const MTP = 'MeshTrafficPermission';
const ALICE: User = { name: 'alice', groups: ['team-a', 'mesh-system:authenticated'] };

/** RBAC where alice's only grant is `rules` (the default binding no longer makes everyone admin). */
function onlyRules(...rules: AccessRule[]): RbacConfig {
  return {
    roles: [role('r', ...rules)],
    bindings: [RESTRICTED_DEFAULT, binding('b', [user('alice')], ['r'])],
    accessType: 'rbac',
  };
}

function write(
  policy: MeshTrafficPermission,
  verb: AccessKind = 'CREATE',
  who: User = ALICE,
): AuthorizeRequest {
  return { user: who, verb, type: MTP, mesh: policy.mesh, name: policy.name, resource: policy };
}

const backend = mtp('p', service('backend'), [[subset({ 'kuma.io/service': 'web' }), 'Allow']]);
const twoFroms = mtp('p', service('backend'), [
  [subset({ 'kuma.io/service': 'web' }), 'Allow'],
  [mesh(), 'Deny'],
]);

describe('when qualifiers against a MeshTrafficPermission', () => {
  const q = (x: AccessQualifier): AccessQualifier => x;
  const fromWeb = q({ from: { targetRef: { kind: 'MeshSubset', tags: { 'kuma.io/service': 'web' } } } });
  const fromMesh = q({ from: { targetRef: { kind: 'Mesh' } } });
  const toBackend = q({ targetRef: { kind: 'MeshService', name: 'backend' } });

  const cases: { name: string; when: AccessQualifier[]; policy: MeshTrafficPermission; allowed: boolean }[] =
    [
      { name: 'targetRef-only qualifier, same targetRef', when: [toBackend], policy: backend, allowed: true },
      {
        name: 'targetRef-only qualifier, other targetRef',
        when: [toBackend],
        policy: mtp('p', service('not-backend'), [[mesh(), 'Allow']]),
        allowed: false,
      },
      {
        name: 'from-only qualifier covers the one entry, any targetRef',
        when: [fromWeb],
        policy: backend,
        allowed: true,
      },
      {
        name: 'from-only qualifier, the entry differs',
        when: [fromWeb],
        policy: mtp('p', service('backend'), [[subset({ 'kuma.io/service': 'api' }), 'Allow']]),
        allowed: false,
      },
      { name: 'two entries, only one covered', when: [fromWeb], policy: twoFroms, allowed: false },
      {
        name: 'two entries, each covered by its own qualifier',
        when: [fromWeb, fromMesh],
        policy: twoFroms,
        allowed: true,
      },
      {
        name: 'targetRef and from together must both match',
        when: [{ targetRef: { kind: 'MeshService', name: 'other' }, from: { targetRef: { kind: 'Mesh' } } }],
        policy: mtp('p', service('backend'), [[mesh(), 'Allow']]),
        allowed: false,
      },
      {
        name: 'targetRef and from together, both match',
        when: [
          { targetRef: { kind: 'MeshService', name: 'backend' }, from: { targetRef: { kind: 'Mesh' } } },
        ],
        policy: mtp('p', service('backend'), [[mesh(), 'Allow']]),
        allowed: true,
      },
      {
        name: 'a to qualifier never matches, even with the right targetRef',
        when: [{ targetRef: { kind: 'MeshService', name: 'backend' }, to: { targetRef: { kind: 'Mesh' } } }],
        policy: backend,
        allowed: false,
      },
      { name: 'an empty to never matches', when: [{ to: {} }], policy: backend, allowed: false },
      { name: 'an empty qualifier matches anything', when: [{}], policy: twoFroms, allowed: true },
      {
        name: 'tags must be equal, not a subset',
        when: [{ targetRef: { kind: 'MeshSubset', tags: { app: 'x' } } }],
        policy: mtp('p', subset({ app: 'x', env: 'prod' }), [[mesh(), 'Allow']]),
        allowed: false,
      },
      {
        name: 'absent tags equal empty tags',
        when: [{ targetRef: { kind: 'MeshSubset', tags: {} } }],
        policy: mtp('p', { kind: 'MeshSubset' }, [[mesh(), 'Allow']]),
        allowed: true,
      },
      {
        name: 'proxyTypes are not compared',
        when: [{ targetRef: { kind: 'Mesh' } }],
        policy: mtp('p', { kind: 'Mesh', proxyTypes: ['Sidecar'] }, [[mesh(), 'Allow']]),
        allowed: true,
      },
      {
        name: 'kind must be equal (MeshService vs MeshServiceSubset)',
        when: [toBackend],
        policy: mtp('p', serviceSubset('backend', { v: '1' }), [[mesh(), 'Allow']]),
        allowed: false,
      },
      {
        name: 'no from entries: the targetRef must still be accepted',
        when: [toBackend],
        policy: mtp('p', service('not-backend'), []),
        allowed: false,
      },
      {
        name: 'no from entries: a qualifier accepting the targetRef',
        when: [toBackend],
        policy: mtp('p', service('backend'), []),
        allowed: true,
      },
      {
        name: 'no from entries: only to qualifiers',
        when: [{ to: { targetRef: { kind: 'Mesh' } } }],
        policy: mtp('p', service('backend'), []),
        allowed: false,
      },
    ];

  it.each(cases)('$name', ({ when, policy, allowed }) => {
    expect(authorize(write(policy), onlyRules(rule({ types: [MTP], when })))).toBe(allowed);
  });

  // A spec.rules policy has no from list: a qualifier covers it only when it leaves `from` open.
  const rulesBackend = rulesMtp('p', service('backend'), [
    mtpRule({ allow: [exact('spiffe://default/web')] }),
  ]);
  const rulesCases: {
    name: string;
    when: AccessQualifier[];
    policy: MeshTrafficPermission;
    allowed: boolean;
  }[] = [
    {
      name: 'rules policy: targetRef-only qualifier, same targetRef',
      when: [toBackend],
      policy: rulesBackend,
      allowed: true,
    },
    {
      name: 'rules policy: targetRef-only qualifier, other targetRef',
      when: [toBackend],
      policy: rulesMtp('p', service('payments'), rulesBackend.rules ?? []),
      allowed: false,
    },
    {
      name: 'rules policy: a from qualifier never covers it',
      when: [fromMesh, fromWeb],
      policy: rulesBackend,
      allowed: false,
    },
    {
      name: 'rules policy: targetRef and from together do not cover it',
      when: [{ targetRef: { kind: 'MeshService', name: 'backend' }, from: { targetRef: { kind: 'Mesh' } } }],
      policy: rulesBackend,
      allowed: false,
    },
    { name: 'rules policy: an empty qualifier covers it', when: [{}], policy: rulesBackend, allowed: true },
    {
      name: 'a Dataplane selected by labels is covered only by a qualifier without targetRef',
      when: [{ targetRef: { kind: 'Dataplane' } }],
      policy: rulesMtp('p', { kind: 'Dataplane', labels: { app: 'payments' } }, rulesBackend.rules ?? []),
      allowed: false,
    },
    {
      name: 'a Dataplane selected by name is covered by a qualifier naming it',
      when: [{ targetRef: { kind: 'Dataplane', name: 'backend-1' } }],
      policy: rulesMtp('p', { kind: 'Dataplane', name: 'backend-1' }, rulesBackend.rules ?? []),
      allowed: true,
    },
  ];

  it.each(rulesCases)('$name', ({ when, policy, allowed }) => {
    expect(authorize(write(policy), onlyRules(rule({ types: [MTP], when })))).toBe(allowed);
  });

  it('a rule with when never matches other types', () => {
    const rbac = onlyRules(rule({ when: [{}] }));
    expect(authorize({ user: ALICE, verb: 'CREATE', type: 'AccessRole', name: 'x' }, rbac)).toBe(false);
    expect(authorize({ user: ALICE, verb: 'CREATE', type: MTP, mesh: 'default', name: 'p' }, rbac)).toBe(
      false,
    );
  });
});

describe('rule fields', () => {
  const req = (fields: Partial<AuthorizeRequest>): AuthorizeRequest => ({ ...write(backend), ...fields });
  const cases: { name: string; rule: AccessRule; request: AuthorizeRequest; allowed: boolean }[] = [
    {
      name: 'access must list the verb',
      rule: rule({ access: ['CREATE'] }),
      request: req({ verb: 'DELETE' }),
      allowed: false,
    },
    {
      name: 'access lists the verb',
      rule: rule({ access: ['DELETE'] }),
      request: req({ verb: 'DELETE' }),
      allowed: true,
    },
    {
      name: 'types empty = every type',
      rule: rule(),
      request: req({ type: 'AccessRole', mesh: undefined }),
      allowed: true,
    },
    {
      name: 'types lists another type',
      rule: rule({ types: ['AccessRole'] }),
      request: req({}),
      allowed: false,
    },
    {
      name: 'types lists the type',
      rule: rule({ types: ['AccessRole', MTP] }),
      request: req({}),
      allowed: true,
    },
    { name: 'names lists the name', rule: rule({ names: ['p'] }), request: req({}), allowed: true },
    { name: 'names lists other names', rule: rule({ names: ['q'] }), request: req({}), allowed: false },
    {
      name: 'names, request without a name',
      rule: rule({ names: ['p'] }),
      request: req({ name: undefined }),
      allowed: false,
    },
    {
      name: "mesh '*' = any mesh",
      rule: rule({ mesh: '*' }),
      request: req({ mesh: 'other' }),
      allowed: true,
    },
    {
      name: "mesh '*' applies to global types too",
      rule: rule({ mesh: '*' }),
      request: req({ type: 'AccessRole', mesh: undefined }),
      allowed: true,
    },
    { name: 'the named mesh', rule: rule({ mesh: 'default' }), request: req({}), allowed: true },
    {
      name: 'another mesh',
      rule: rule({ mesh: 'default' }),
      request: req({ mesh: 'other' }),
      allowed: false,
    },
    {
      name: 'a specific mesh never applies to AccessRole',
      rule: rule({ mesh: 'default' }),
      request: { user: ALICE, verb: 'CREATE', type: 'AccessRole', name: 'x' },
      allowed: false,
    },
    {
      name: 'a specific mesh never applies to AccessRoleBinding, even if a mesh is passed',
      rule: rule({ mesh: 'default' }),
      request: { user: ALICE, verb: 'CREATE', type: 'AccessRoleBinding', mesh: 'default', name: 'x' },
      allowed: false,
    },
    {
      name: 'GENERATE_USER_TOKEN needs that access',
      rule: rule(),
      request: { user: ALICE, verb: 'GENERATE_USER_TOKEN', type: USER_TOKEN_TYPE },
      allowed: false,
    },
    {
      name: 'GENERATE_USER_TOKEN granted by a rule without types',
      rule: rule({ access: ['GENERATE_USER_TOKEN'] }),
      request: { user: ALICE, verb: 'GENERATE_USER_TOKEN', type: USER_TOKEN_TYPE },
      allowed: true,
    },
    {
      name: 'GENERATE_USER_TOKEN not granted by a rule for other types',
      rule: rule({ types: [MTP], access: ['CREATE', 'GENERATE_USER_TOKEN'] }),
      request: { user: ALICE, verb: 'GENERATE_USER_TOKEN', type: USER_TOKEN_TYPE },
      allowed: false,
    },
  ];
  it.each(cases)('$name', ({ rule: r, request, allowed }) => {
    expect(authorize(request, onlyRules(r))).toBe(allowed);
  });
});

describe('subjects and bindings', () => {
  const grant = role('r', rule());
  const rbac = (subjects: ReturnType<typeof user>[], roles = ['r']): RbacConfig => ({
    roles: [grant],
    bindings: [RESTRICTED_DEFAULT, binding('b', subjects, roles)],
    accessType: 'rbac',
  });
  it.each([
    { name: 'a User subject by name', subjects: [user('alice')], allowed: true },
    { name: 'a User subject of another name', subjects: [user('bob')], allowed: false },
    { name: 'a Group subject of one of the groups', subjects: [group('team-a')], allowed: true },
    { name: 'a Group subject named like the user', subjects: [group('alice')], allowed: false },
    { name: 'a User subject named like a group', subjects: [user('team-a')], allowed: false },
    { name: 'the authenticated group', subjects: [group('mesh-system:authenticated')], allowed: true },
  ])('$name', ({ subjects, allowed }) => {
    expect(authorize(write(backend), rbac(subjects))).toBe(allowed);
  });
  it('a binding to a role that does not exist grants nothing', () => {
    expect(authorize(write(backend), rbac([user('alice')], ['missing']))).toBe(false);
  });
});

describe('UPDATE and DELETE check the objects they change', () => {
  const rbac = onlyRules(
    rule({ types: [MTP], when: [{ targetRef: { kind: 'MeshService', name: 'backend' } }] }),
  );
  const outOfScope = mtp('p', service('payments'), [[mesh(), 'Allow']]);

  const asAlice = (
    verb: 'CREATE' | 'UPDATE' | 'DELETE',
    objects: { stored?: MeshTrafficPermission; proposed?: MeshTrafficPermission },
  ) => authorizeWrite({ user: ALICE, verb, type: MTP, mesh: 'default', name: 'p', ...objects }, rbac);

  it.each([
    ['UPDATE within scope', 'UPDATE', { stored: backend, proposed: backend }, true],
    [
      'UPDATE moving the targetRef out of scope (old in, new out)',
      'UPDATE',
      { stored: backend, proposed: outOfScope },
      false,
    ],
    [
      'UPDATE taking over a policy out of scope (old out, new in)',
      'UPDATE',
      { stored: outOfScope, proposed: backend },
      false,
    ],
    ['DELETE of a stored policy out of scope', 'DELETE', { stored: outOfScope }, false],
    ['DELETE of a stored policy in scope', 'DELETE', { stored: backend }, true],
    ['CREATE checks the new object only: in scope', 'CREATE', { proposed: backend }, true],
    ['CREATE checks the new object only: out of scope', 'CREATE', { proposed: outOfScope }, false],
    ['without the object, a rule with when cannot grant', 'DELETE', {}, false],
  ] as const)('%s', (_name, verb, objects, allowed) => {
    expect(asAlice(verb, objects)).toBe(allowed);
  });
  it('each object alone: backend is in scope, payments is not', () => {
    expect(authorize(write(backend, 'UPDATE'), rbac)).toBe(true);
    expect(authorize(write(outOfScope, 'UPDATE'), rbac)).toBe(false);
  });
});

describe('the reference walk-through: backend-owner', () => {
  const backendOwner: User = { name: 'backend-owner', groups: ['mesh-system:authenticated'] };
  const rbac: RbacConfig = {
    roles: [
      role(
        'backend-owner',
        rule({
          types: [MTP],
          mesh: 'default',
          access: ['CREATE', 'UPDATE', 'DELETE'],
          when: [{ targetRef: { kind: 'MeshService', name: 'backend' } }],
        }),
      ),
    ],
    bindings: [RESTRICTED_DEFAULT, binding('backend-owners', [user('backend-owner')], ['backend-owner'])],
    accessType: 'rbac',
  };
  const webToBackend = mtp('web-to-backend', service('backend'), [[service('web'), 'Allow']]);
  const webToNotBackend = mtp('web-to-backend', service('not-backend'), [[service('web'), 'Allow']]);

  it('web-to-backend targeting backend is allowed', () => {
    expect(authorize(write(webToBackend, 'CREATE', backendOwner), rbac)).toBe(true);
  });
  it('targeting not-backend is denied with the reference message', () => {
    expect(authorize(write(webToNotBackend, 'UPDATE', backendOwner), rbac)).toBe(false);
    expect(JSON.stringify(denial(backendOwner))).toBe(
      '{"status":403,"title":"Access Denied","detail":"user \\"backend-owner/mesh-system:authenticated\\" cannot access the resource"}',
    );
  });
  it('in another mesh it is denied', () => {
    expect(authorize(write({ ...webToBackend, mesh: 'other' }, 'CREATE', backendOwner), rbac)).toBe(false);
  });
  it('the role does not cover AccessRoles', () => {
    expect(authorize({ user: backendOwner, verb: 'CREATE', type: 'AccessRole', name: 'x' }, rbac)).toBe(
      false,
    );
  });
});

describe('built-ins', () => {
  const anonymous: User = { name: 'mesh-system:anonymous', groups: ['mesh-system:unauthenticated'] };
  const none: RbacConfig = { roles: [], bindings: [], accessType: 'rbac' };

  it('the default binding gives authenticated callers admin, and nobody else', () => {
    expect(authorize(write(backend, 'DELETE', ALICE), none)).toBe(true);
    expect(authorize({ user: ALICE, verb: 'GENERATE_USER_TOKEN', type: USER_TOKEN_TYPE }, none)).toBe(true);
    expect(authorize(write(backend, 'DELETE', anonymous), none)).toBe(false);
    expect(
      authorize({ user: anonymous, verb: 'CREATE', type: 'AccessRoleBinding', name: 'default' }, none),
    ).toBe(false);
    expect(authorize({ user: anonymous, verb: 'GENERATE_USER_TOKEN', type: USER_TOKEN_TYPE }, none)).toBe(
      false,
    );
  });
  it("Kong Mesh's default binding gives everyone admin, tokens included", () => {
    const kongMesh: RbacConfig = { ...none, defaultBinding: builtinDefaultBinding('kong-mesh') };
    for (const who of [ALICE, anonymous]) {
      expect(authorize(write(backend, 'DELETE', who), kongMesh)).toBe(true);
      expect(
        authorize({ user: who, verb: 'CREATE', type: 'AccessRoleBinding', name: 'default' }, kongMesh),
      ).toBe(true);
      expect(authorize({ user: who, verb: 'GENERATE_USER_TOKEN', type: USER_TOKEN_TYPE }, kongMesh)).toBe(
        true,
      );
    }
  });
  it('restricting default to mesh-system:admin removes it', () => {
    const restricted: RbacConfig = { roles: [], bindings: [RESTRICTED_DEFAULT], accessType: 'rbac' };
    expect(authorize(write(backend, 'CREATE', ALICE), restricted)).toBe(false);
    expect(authorize(write(backend, 'CREATE', anonymous), restricted)).toBe(false);
    const admin: User = { name: 'mesh-system:admin', groups: ['mesh-system:admin'] };
    expect(authorize(write(backend, 'CREATE', admin), restricted)).toBe(true);
  });
  it('redefining admin replaces the built-in role', () => {
    const rbac: RbacConfig = {
      roles: [role('admin', rule({ types: ['AccessRole'] }))],
      bindings: [],
      accessType: 'rbac',
    };
    expect(authorize(write(backend, 'CREATE', ALICE), rbac)).toBe(false);
    expect(authorize({ user: ALICE, verb: 'CREATE', type: 'AccessRole', name: 'x' }, rbac)).toBe(true);
  });
  it('mergeBuiltins adds only what is not redefined', () => {
    expect(mergeBuiltins([], [])).toEqual({
      roles: [BUILTIN_ADMIN_ROLE],
      bindings: [BUILTIN_DEFAULT_BINDING],
    });
    const merged = mergeBuiltins([role('admin')], [RESTRICTED_DEFAULT]);
    expect(merged.roles.map((r) => r.rules.length)).toEqual([0]);
    expect(merged.bindings).toEqual([RESTRICTED_DEFAULT]);
  });
  it('the built-in admin role holds every access, with no types', () => {
    expect(BUILTIN_ADMIN_ROLE.rules).toEqual([
      { types: [], names: [], access: ['CREATE', 'UPDATE', 'DELETE', 'GENERATE_USER_TOKEN'], when: [] },
    ]);
  });
});

describe('static access type', () => {
  const everyoneAdmin: RbacConfig = { roles: [], bindings: [], accessType: 'static' };
  it('ignores roles and bindings: only mesh-system:admin may write', () => {
    expect(authorize(write(backend, 'CREATE', ALICE), everyoneAdmin)).toBe(false);
    const grantAlice: RbacConfig = { ...onlyRules(rule()), accessType: 'static' };
    expect(authorize(write(backend, 'CREATE', ALICE), grantAlice)).toBe(false);
    const admin: User = {
      name: 'someone',
      groups: ['ops', 'mesh-system:admin', 'mesh-system:authenticated'],
    };
    expect(
      authorize(write(backend, 'DELETE', admin), { ...grantAlice, bindings: [RESTRICTED_DEFAULT] }),
    ).toBe(true);
    expect(
      authorize({ user: admin, verb: 'GENERATE_USER_TOKEN', type: USER_TOKEN_TYPE }, everyoneAdmin),
    ).toBe(true);
  });
  it('a user named mesh-system:admin without the group is not admin', () => {
    const impostor: User = { name: 'mesh-system:admin', groups: ['mesh-system:authenticated'] };
    expect(authorize(write(backend, 'CREATE', impostor), everyoneAdmin)).toBe(false);
  });
});

describe('denial', () => {
  it('joins the groups in the user order', () => {
    expect(denial({ name: 'alice', groups: ['b', 'a', 'mesh-system:authenticated'] })).toEqual({
      status: 403,
      title: 'Access Denied',
      detail: 'user "alice/b,a,mesh-system:authenticated" cannot access the resource',
    });
  });
});

describe('sameTargetRef', () => {
  it('compares kind, name and tags', () => {
    expect(sameTargetRef({ kind: 'MeshService', name: 'a' }, service('a'))).toBe(true);
    expect(sameTargetRef({ kind: 'MeshService', name: 'a' }, service('b'))).toBe(false);
    expect(sameTargetRef({ kind: 'MeshSubset', tags: { a: '1', b: '2' } }, subset({ b: '2', a: '1' }))).toBe(
      true,
    );
    expect(sameTargetRef({ kind: 'MeshSubset', tags: { a: '1' } }, subset({ a: '2' }))).toBe(false);
    expect(sameTargetRef({ kind: 'MeshSubset', tags: { a: '1' } }, subset({ b: '1' }))).toBe(false);
  });
});
