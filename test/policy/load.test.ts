import { mkdir, mkdtemp, open, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatIssue, PolicyLoadError } from '../../src/policy/errors.js';
import {
  DEFAULT_MAX_POLICY_BYTES,
  DEFAULT_MAX_POLICY_FILE_BYTES,
  type LoadResult,
  loadPolicies,
  loadPolicyTexts,
  ParseCache,
} from '../../src/policy/load.js';
import type { PolicySet } from '../../src/policy/types.js';

const VALID = 'test/fixtures/valid';

const MTP = (name: string, action = 'Allow', extra = ''): string =>
  `type: MeshTrafficPermission\nname: ${name}\n${extra}spec:\n  from:\n    - targetRef: {kind: Mesh}\n      default: {action: ${action}}\n`;

function setOf(result: LoadResult): PolicySet {
  if (!result.ok) throw new PolicyLoadError(result.errors);
  return result.set;
}

const errorsOf = (result: LoadResult): string[] => (result.ok ? [] : result.errors.map(formatIssue));

describe('valid fixtures', () => {
  it('loads every valid fixture, in sorted file order and document order', async () => {
    const result = await loadPolicies([VALID]);
    const set = setOf(result);
    expect(result.files).toEqual(
      [
        'kubernetes.yaml',
        'meshes.yaml',
        'multi-document.yml',
        'policy.json',
        'rbac-kubernetes.yaml',
        'rbac-universal.yaml',
        'universal.yaml',
        'with-warnings.yaml',
      ].map((f) => join(VALID, f)),
    );
    expect(set.policies.map((p) => `${p.mesh}/${p.name}`)).toEqual([
      'default/allow-orders-k8s',
      'default/allow-all-k8s',
      'default/first',
      'demo/second',
      'demo/from-json',
      'default/allow-orders',
      'default/deny-all',
      'demo/allow-us-east-deny-dev',
      'demo/warned',
    ]);
    await expect(JSON.stringify(set, null, 2)).toMatchFileSnapshot('__snapshots__/valid-policy-set.json');
  });

  it('reads both forms into the same shape, with the position of each document', async () => {
    const set = setOf(await loadPolicies([VALID]));
    const byName = new Map(set.policies.map((p) => [p.name, p]));
    expect(byName.get('allow-orders-k8s')).toEqual({
      type: 'MeshTrafficPermission',
      name: 'allow-orders-k8s',
      mesh: 'default',
      labels: { 'kuma.io/mesh': 'default', 'kuma.io/origin': 'global' },
      form: 'kubernetes',
      source: { file: join(VALID, 'kubernetes.yaml'), line: 2, col: 1 },
      targetRef: { kind: 'MeshService', name: 'payments' },
      from: [{ targetRef: { kind: 'MeshSubset', tags: { 'kuma.io/service': 'orders' } }, action: 'Allow' }],
    });
    expect(byName.get('allow-orders')).toMatchObject({
      form: 'universal',
      source: { file: join(VALID, 'universal.yaml'), line: 2, col: 1 },
      targetRef: { kind: 'MeshService', name: 'payments' },
    });
    // Omitted targetRef means the whole mesh; omitted mesh label means `default`.
    expect(byName.get('allow-all-k8s')).toMatchObject({ mesh: 'default', targetRef: { kind: 'Mesh' } });
    expect(byName.get('second')?.targetRef).toEqual({ kind: 'Mesh', proxyTypes: ['Gateway'] });
    expect(byName.get('from-json')).toMatchObject({
      mesh: 'demo',
      labels: { team: 'payments' },
      source: { line: 1, col: 1 },
      targetRef: { kind: 'MeshSubset', tags: { 'kuma.io/service': 'payments', version: 'v2' } },
      from: [{ targetRef: { kind: 'MeshService', name: 'orders' }, action: 'Deny' }],
    });
    expect(byName.get('allow-us-east-deny-dev')?.from.map((f) => f.action)).toEqual([
      'Allow',
      'AllowWithShadowDeny',
    ]);
  });

  it('reads the mTLS state of each Mesh document', async () => {
    const set = setOf(await loadPolicies([join(VALID, 'meshes.yaml')]));
    expect(set.meshes.map((m) => [m.name, m.form, m.mtls])).toEqual([
      ['plain', 'universal', 'disabled'],
      ['default', 'universal', 'strict'],
      ['demo', 'universal', 'permissive'],
      ['strict-k8s', 'kubernetes', 'strict'],
      ['disabled-k8s', 'kubernetes', 'disabled'],
    ]);
  });

  it('reads access roles and bindings of both forms', async () => {
    const set = setOf(
      await loadPolicies([join(VALID, 'rbac-universal.yaml'), join(VALID, 'rbac-kubernetes.yaml')]),
    );
    const roles = new Map(set.accessRoles.map((r) => [r.name, r]));
    expect(roles.get('role-1')?.rules).toEqual([
      {
        types: ['MeshTrafficPermission', 'MeshTrace', 'MeshAccessLog'],
        names: ['res-1'],
        mesh: 'default',
        access: ['CREATE', 'UPDATE', 'DELETE'],
        when: [
          { targetRef: { kind: 'MeshService', name: 'backend' } },
          { targetRef: { kind: 'MeshSubset', tags: { 'k8s.kuma.io/namespace': 'kuma-demo' } } },
          {
            targetRef: { kind: 'MeshService', name: 'web' },
            to: { targetRef: { kind: 'MeshService', name: 'backend' } },
          },
          { targetRef: { kind: 'MeshService', name: 'web' }, from: { targetRef: { kind: 'Mesh' } } },
        ],
      },
    ]);
    // Only legacy qualifiers: the rule can never match and is dropped (an empty `when` would
    // otherwise mean "no condition").
    expect(roles.get('role-legacy')?.rules).toEqual([]);
    // Access values for other parts of Kong Mesh are accepted and left out.
    expect(roles.get('admin')?.rules).toEqual([
      { types: [], names: [], access: ['CREATE', 'UPDATE', 'DELETE', 'GENERATE_USER_TOKEN'], when: [] },
    ]);
    expect(roles.get('observability-operator')?.rules.map((r) => r.mesh)).toEqual(['*', undefined]);
    expect(roles.get('backend-owner')).toMatchObject({ form: 'kubernetes' });
    expect(roles.get('backend-owner')?.rules[1]?.when).toEqual([
      {
        targetRef: { kind: 'Mesh' },
        from: { targetRef: { kind: 'MeshSubset', tags: { 'kuma.io/service': 'backend' } } },
      },
      { targetRef: { kind: 'Mesh' }, to: { targetRef: { kind: 'MeshService', name: 'backend' } } },
    ]);
    expect(set.accessRoleBindings.map((b) => [b.name, b.form, b.subjects, b.roles])).toEqual([
      [
        'binding-1',
        'universal',
        [
          { type: 'User', name: 'john.doe@example.com' },
          { type: 'Group', name: 'team-a' },
        ],
        ['role-1'],
      ],
      ['default', 'universal', [{ type: 'Group', name: 'mesh-system:admin' }], ['admin']],
      [
        'binding-k8s',
        'kubernetes',
        [
          { type: 'User', name: 'john.doe@example.com' },
          { type: 'Group', name: 'team-a' },
        ],
        ['backend-owner'],
      ],
      [
        'admins-only',
        'kubernetes',
        [
          { type: 'Group', name: 'mesh-system:admin' },
          { type: 'Group', name: 'system:serviceaccounts:kube-system' },
        ],
        ['admin'],
      ],
    ]);
  });

  it('returns warnings with a valid set', async () => {
    const set = setOf(await loadPolicies([VALID]));
    expect(set.warnings.map(formatIssue)).toMatchInlineSnapshot(`
      [
        "test/fixtures/valid/policy.json:9:30: spec.from[0].targetRef.kind: MeshService value for 'from[].targetRef.kind' is deprecated, use MeshSubset with 'kuma.io/service' instead",
        "test/fixtures/valid/rbac-universal.yaml:37:42: rules[0].access[3]: GENERATE_DATAPLANE_TOKEN does not apply to this service and is ignored",
        "test/fixtures/valid/rbac-universal.yaml:37:93: rules[0].access[5]: GENERATE_ZONE_CP_TOKEN does not apply to this service and is ignored",
        "test/fixtures/valid/rbac-universal.yaml:37:119: rules[0].access[6]: GENERATE_ZONE_TOKEN does not apply to this service and is ignored",
        "test/fixtures/valid/rbac-universal.yaml:39:3: rules[0].when: no qualifier can match a MeshTrafficPermission; this rule grants nothing and is ignored",
        "test/fixtures/valid/rbac-universal.yaml:39:5: rules[0].when[0].sources: "sources" qualifiers never match a MeshTrafficPermission; this qualifier is ignored",
        "test/fixtures/valid/rbac-universal.yaml:42:5: rules[0].when[0].destinations: "destinations" qualifiers never match a MeshTrafficPermission; this qualifier is ignored",
        "test/fixtures/valid/rbac-universal.yaml:45:5: rules[0].when[1].selectors: "selectors" qualifiers never match a MeshTrafficPermission; this qualifier is ignored",
        "test/fixtures/valid/rbac-universal.yaml:48:5: rules[0].when[2].dpToken: "dpToken" qualifiers never match a MeshTrafficPermission; this qualifier is ignored",
        "test/fixtures/valid/rbac-universal.yaml:74:42: rules[0].access[3]: GENERATE_DATAPLANE_TOKEN does not apply to this service and is ignored",
        "test/fixtures/valid/rbac-universal.yaml:74:93: rules[0].access[5]: GENERATE_ZONE_CP_TOKEN does not apply to this service and is ignored",
        "test/fixtures/valid/rbac-universal.yaml:74:119: rules[0].access[6]: GENERATE_ZONE_TOKEN does not apply to this service and is ignored",
        "test/fixtures/valid/with-warnings.yaml:9:5: spec.targetRef.sectionName: unknown field, ignored",
        "test/fixtures/valid/with-warnings.yaml:12:15: spec.from[0].targetRef.kind: MeshService value for 'from[].targetRef.kind' is deprecated, use MeshSubset with 'kuma.io/service' instead",
        "test/fixtures/valid/with-warnings.yaml:16:9: spec.from[0].default.log: unknown field, ignored",
        "test/fixtures/valid/with-warnings.yaml:19:9: spec.from[1].targetRef.proxyTypes: is ignored in a from entry (it only selects proxies in the top-level targetRef)",
        "test/fixtures/valid/with-warnings.yaml:22:3: spec.to: unknown field, ignored",
        "test/fixtures/valid/with-warnings.yaml:27:1: mesh: is ignored: AccessRole is global (not bound to a mesh)",
        "test/fixtures/valid/with-warnings.yaml:34:11: rules[0].when[0].targetRef.proxyTypes: is ignored: qualifiers compare targetRefs by kind, name and tags only",
      ]
    `);
  });
});

describe('files and directories', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mtp-load-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a Kubernetes ConfigMap mount through its visible symlinks, once', async () => {
    const stamped = join(dir, '..2026_11_22_10_00_00.123456789');
    await mkdir(stamped);
    await writeFile(join(stamped, 'a.yaml'), MTP('a'));
    await writeFile(join(stamped, 'b.yaml'), MTP('b', 'Deny'));
    await symlink('..2026_11_22_10_00_00.123456789', join(dir, '..data'));
    await symlink('..data/a.yaml', join(dir, 'a.yaml'));
    await symlink('..data/b.yaml', join(dir, 'b.yaml'));

    const result = await loadPolicies([dir]);
    const set = setOf(result);
    expect(result.files).toEqual([join(dir, 'a.yaml'), join(dir, 'b.yaml')]);
    expect(set.policies.map((p) => [p.name, p.source.file])).toEqual([
      ['a', join(dir, 'a.yaml')],
      ['b', join(dir, 'b.yaml')],
    ]);
  });

  it('warns of a ConfigMap key without an extension, which a mount makes a file it skips', async () => {
    const stamped = join(dir, '..2026_11_22_10_00_00.123456789');
    await mkdir(stamped);
    await writeFile(join(stamped, 'policies'), MTP('a'));
    await symlink('..2026_11_22_10_00_00.123456789', join(dir, '..data'));
    await symlink('..data/policies', join(dir, 'policies'));

    const result = await loadPolicies([dir]);
    expect(result.files).toEqual([]);
    expect(setOf(result).warnings.map(formatIssue)).toEqual([
      `${join(dir, 'policies')}:1:1: file: skipped: a policy file name ends in .yaml, .yml or .json (a ConfigMap key without one is not read)`,
    ]);
  });

  it('recurses into subdirectories in sorted order, skipping hidden names and other extensions', async () => {
    await mkdir(join(dir, 'b'));
    await mkdir(join(dir, 'a'));
    await mkdir(join(dir, '.git'));
    await writeFile(join(dir, 'b', 'one.yml'), MTP('b-one'));
    await writeFile(join(dir, 'a', 'z.json'), JSON.stringify({ type: 'Mesh', name: 'z' }));
    await writeFile(join(dir, 'a', 'y.YAML'), MTP('a-y'));
    await writeFile(join(dir, '.git', 'x.yaml'), 'not: [valid');
    await writeFile(join(dir, '.hidden.yaml'), 'not: [valid');
    await writeFile(join(dir, 'README.md'), 'not: [valid');
    await writeFile(join(dir, 'top.yaml'), MTP('top'));

    const result = await loadPolicies([dir]);
    expect(errorsOf(result)).toEqual([]);
    expect(result.files).toEqual([
      join(dir, 'a', 'y.YAML'),
      join(dir, 'a', 'z.json'),
      join(dir, 'b', 'one.yml'),
      join(dir, 'top.yaml'),
    ]);
  });

  it('reads a file named explicitly whatever its extension', async () => {
    await writeFile(join(dir, 'policy.txt'), MTP('txt'));
    expect(setOf(await loadPolicies([join(dir, 'policy.txt')])).policies.map((p) => p.name)).toEqual(['txt']);
  });

  it('refuses a path that is neither a file nor a directory', async () => {
    expect(errorsOf(await loadPolicies(['/dev/null']))).toEqual([
      '/dev/null:1:1: file: not a regular file or directory',
    ]);
  });

  it('accepts an empty directory as an empty policy set', async () => {
    const result = await loadPolicies([dir]);
    expect(result).toEqual({
      ok: true,
      files: [],
      set: { policies: [], meshes: [], accessRoles: [], accessRoleBindings: [], warnings: [] },
    });
  });

  it('reports a missing path and still reads the others', async () => {
    await writeFile(join(dir, 'a.yaml'), MTP('a'));
    const missing = join(dir, 'nope');
    const result = await loadPolicies([missing, join(dir, 'a.yaml')]);
    expect(errorsOf(result)).toEqual([`${missing}:1:1: file: no such file or directory`]);
    expect(result.files).toEqual([join(dir, 'a.yaml')]);
  });

  it('survives symlink loops and reports dangling policy symlinks', async () => {
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'sub', 'a.yaml'), MTP('a'));
    await symlink('..', join(dir, 'sub', 'parent')); // a directory cycle
    await symlink('self.yaml', join(dir, 'self.yaml')); // a file that points at itself
    await symlink('gone.yaml', join(dir, 'dangling.yaml'));
    await symlink('gone', join(dir, 'dangling-dir'));

    const result = await loadPolicies([dir]);
    expect(errorsOf(result)).toEqual([
      `${join(dir, 'dangling.yaml')}:1:1: file: no such file or directory`,
      `${join(dir, 'self.yaml')}:1:1: file: too many levels of symbolic links`,
    ]);
    expect(result.files).toEqual([join(dir, 'sub', 'a.yaml')]);
  });

  it('reads a file reached twice (given twice, or through a symlink) once', async () => {
    await writeFile(join(dir, 'a.yaml'), MTP('a'));
    await symlink('a.yaml', join(dir, 'b.yaml'));
    const result = await loadPolicies([dir, join(dir, 'a.yaml'), dir]);
    expect(errorsOf(result)).toEqual([]);
    expect(result.files).toEqual([join(dir, 'a.yaml')]);
  });

  it('refuses a file over the size limit without reading it', async () => {
    const huge = join(dir, 'huge.yaml');
    const handle = await open(huge, 'w');
    await handle.truncate(5 * 1024 * 1024 * 1024); // sparse: 5 GiB that reading would never finish
    await handle.close();
    await writeFile(join(dir, 'small.yaml'), MTP('small'));
    await writeFile(join(dir, 'limit.yaml'), MTP('limit').padEnd(200, '#'));

    const result = await loadPolicies([dir], { maxFileBytes: 200 });
    expect(errorsOf(result)).toEqual([
      `${huge}:1:1: file: file is 5368709120 bytes, over the limit of 200 bytes (--max-policy-file-bytes)`,
    ]);
    expect((await loadPolicies([join(dir, 'small.yaml')])).ok).toBe(true);
    expect(DEFAULT_MAX_POLICY_FILE_BYTES).toBe(4194304);
  });

  it('refuses a policy set over --max-policy-bytes before parsing any of it', async () => {
    const a = MTP('a').padEnd(150, '#');
    await writeFile(join(dir, 'a.yaml'), a);
    await writeFile(join(dir, 'b.yaml'), MTP('b').padEnd(150, '#'));
    // Not even valid YAML: never parsed, since the set is refused before parsing.
    await writeFile(join(dir, 'c.yaml'), ': [ broken');

    const result = await loadPolicies([dir], { maxFileBytes: 200, maxTotalBytes: 250 });
    expect(errorsOf(result)).toEqual([
      `${join(dir, 'b.yaml')}:1:1: file: the policy files up to this one add up to 300 bytes, over the limit of 250 bytes for the whole set (--max-policy-bytes)`,
    ]);
    expect(result.files).toEqual(['a.yaml', 'b.yaml', 'c.yaml'].map((f) => join(dir, f)));
    await rm(join(dir, 'c.yaml'));
    expect((await loadPolicies([dir], { maxFileBytes: 200, maxTotalBytes: 300 })).ok).toBe(true);
    expect(DEFAULT_MAX_POLICY_BYTES).toBe(64 * 1024 * 1024);
  });

  it('counts the files a reload already knows (not read again) towards --max-policy-bytes', async () => {
    const cache = new ParseCache();
    const options = { maxFileBytes: 200, maxTotalBytes: 250 };
    await writeFile(join(dir, 'a.yaml'), MTP('a').padEnd(150, '#'));
    expect((await loadPolicies([dir], options, cache)).ok).toBe(true);
    await writeFile(join(dir, 'b.yaml'), MTP('b').padEnd(150, '#'));
    expect(errorsOf(await loadPolicies([dir], options, cache))).toEqual([
      `${join(dir, 'b.yaml')}:1:1: file: the policy files up to this one add up to 300 bytes, over the limit of 250 bytes for the whole set (--max-policy-bytes)`,
    ]);
  });

  it('still names a single file over --max-policy-file-bytes as such when the set is nearly full', async () => {
    await writeFile(join(dir, 'a.yaml'), MTP('a').padEnd(150, '#'));
    await writeFile(join(dir, 'b.yaml'), MTP('b').padEnd(250, '#'));
    const result = await loadPolicies([dir], { maxFileBytes: 200, maxTotalBytes: 1000 });
    expect(errorsOf(result)).toEqual([
      `${join(dir, 'b.yaml')}:1:1: file: file is 250 bytes, over the limit of 200 bytes (--max-policy-file-bytes)`,
    ]);
  });

  it('collects the violations of every file, sorted by file then position', async () => {
    await writeFile(join(dir, 'b.yaml'), `${MTP('B')}---\n${MTP('ok', 'Nope')}`);
    await writeFile(join(dir, 'a.yaml'), 'type: Mesh\nname: x\nmtls: {enabledBackend: y}\n');
    const result = await loadPolicies([join(dir, 'b.yaml'), join(dir, 'a.yaml')]);
    expect(errorsOf(result)).toEqual([
      `${join(dir, 'a.yaml')}:3:24: mtls.enabledBackend: has to be set to one of the backends in the mesh`,
      `${join(dir, 'b.yaml')}:2:7: name: invalid characters. A lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
      `${join(dir, 'b.yaml')}:13:25: spec.from[0].default.action: in body should be one of [Allow Deny AllowWithShadowDeny]`,
    ]);
  });
});

describe('loadPolicyTexts', () => {
  it('validates in-memory texts, as strings or bytes', () => {
    const result = loadPolicyTexts([
      { file: 'body.yaml', text: MTP('from-string') },
      { file: 'body.json', text: new TextEncoder().encode(JSON.stringify({ type: 'Mesh', name: 'm' })) },
    ]);
    const set = setOf(result);
    expect(result.files).toEqual(['body.yaml', 'body.json']);
    expect(set.policies.map((p) => p.name)).toEqual(['from-string']);
    expect(set.meshes.map((m) => [m.name, m.mtls])).toEqual([['m', 'disabled']]);
  });

  it('applies the size limit to texts too', () => {
    expect(
      errorsOf(loadPolicyTexts([{ file: 'big.yaml', text: 'é'.repeat(60) }], { maxFileBytes: 100 })),
    ).toEqual([
      'big.yaml:1:1: file: file is 120 bytes, over the limit of 100 bytes (--max-policy-file-bytes)',
    ]);
  });

  it('names both places of a duplicate', () => {
    const result = loadPolicyTexts([
      { file: 'a.yaml', text: MTP('x') },
      {
        file: 'b.yaml',
        text: `type: MeshTrafficPermission\nmesh: default\nname: x\nspec: {from: [{targetRef: {kind: Mesh}, default: {action: Deny}}]}\n`,
      },
    ]);
    expect(errorsOf(result)).toEqual([
      'b.yaml:3:7: name: duplicate MeshTrafficPermission "x" in mesh "default", first defined at a.yaml:1:1',
    ]);
  });
});

describe('PolicyLoadError', () => {
  it('carries the issues and prints one formatted line per issue', () => {
    const issues = [
      { file: 'a.yaml', line: 3, col: 7, path: 'name', message: 'cannot be empty' },
      { file: 'b.yaml', line: 1, col: 1, path: 'file', message: 'no such file or directory' },
    ];
    const error = new PolicyLoadError(issues);
    expect(error).toBeInstanceOf(Error);
    expect(error.issues).toBe(issues);
    expect(error.message).toBe(
      'a.yaml:3:7: name: cannot be empty\nb.yaml:1:1: file: no such file or directory',
    );
  });
});
