import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { AdminStore, StoreError, type UniversalResource, type WriteStep } from '../../src/admin/store.js';
import { loadPolicies } from '../../src/policy/load.js';

const fresh = () => mkdtempSync(join(tmpdir(), 'mtp-authz-store-'));

function policy(name: string, service: string, mesh = 'default'): UniversalResource {
  return {
    type: 'MeshTrafficPermission',
    name,
    mesh,
    spec: {
      targetRef: { kind: 'MeshService', name: service },
      from: [{ targetRef: { kind: 'Mesh' }, default: { action: 'Allow' } }],
    },
  };
}

/** What the loader sees in `dir`: mesh/name → target service. */
async function visible(dir: string): Promise<Record<string, string | undefined>> {
  const result = await loadPolicies([dir]);
  if (!result.ok) throw new Error(`load failed: ${JSON.stringify(result.errors)}`);
  return Object.fromEntries(result.set.policies.map((p) => [`${p.mesh}/${p.name}`, p.targetRef.name]));
}

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

describe('layout and contents', () => {
  it('writes one Universal-form file per resource where SPEC §7.1 says', async () => {
    const dir = fresh();
    const store = await AdminStore.open(dir);
    const mtp = await store.put(policy('web-to-backend', 'backend', 'demo'));
    const role = await store.put({
      type: 'AccessRole',
      name: 'backend-owner',
      rules: [{ access: ['CREATE'] }],
    });
    const binding = await store.put({
      type: 'AccessRoleBinding',
      name: 'default',
      subjects: [{ type: 'Group', name: 'mesh-system:admin' }],
      roles: ['admin'],
    });
    expect([mtp.file, role.file, binding.file]).toEqual([
      join(dir, 'meshtrafficpermissions/demo/web-to-backend.yaml'),
      join(dir, 'access-roles/backend-owner.yaml'),
      join(dir, 'access-role-bindings/default.yaml'),
    ]);
    expect(parse(readFileSync(mtp.file, 'utf8'))).toEqual(policy('web-to-backend', 'backend', 'demo'));
    const loaded = await loadPolicies([dir]);
    expect(loaded.ok).toBe(true);
    if (!loaded.ok) return;
    expect(loaded.set.policies.map((p) => [p.mesh, p.name, p.targetRef])).toEqual([
      ['demo', 'web-to-backend', { kind: 'MeshService', name: 'backend' }],
    ]);
    expect(loaded.set.accessRoles.map((r) => r.name)).toEqual(['backend-owner']);
    expect(loaded.set.accessRoleBindings.map((b) => b.name)).toEqual(['default']);
  });

  it('puts type, name and mesh first, and defaults the mesh of a policy', async () => {
    const store = await AdminStore.open(fresh());
    const { spec } = policy('p', 'backend');
    const { file } = await store.put({ spec, name: 'p', type: 'MeshTrafficPermission' });
    expect(file.endsWith('meshtrafficpermissions/default/p.yaml')).toBe(true);
    expect(readFileSync(file, 'utf8').split('\n').slice(0, 3)).toEqual([
      'type: MeshTrafficPermission',
      'name: p',
      'mesh: default',
    ]);
  });

  it('reports created, then replaced; reads and deletes', async () => {
    const store = await AdminStore.open(fresh());
    expect((await store.put(policy('p', 'a'))).created).toBe(true);
    expect((await store.put(policy('p', 'b'))).created).toBe(false);
    expect(parse((await store.read('MeshTrafficPermission', 'default', 'p')) ?? '').spec.targetRef.name).toBe(
      'b',
    );
    expect(await store.delete('MeshTrafficPermission', 'default', 'p')).toMatchObject({ deleted: true });
    expect(await store.read('MeshTrafficPermission', 'default', 'p')).toBeUndefined();
    expect(await store.delete('MeshTrafficPermission', 'default', 'p')).toMatchObject({ deleted: false });
  });

  it('owns its own files only', async () => {
    const dir = fresh();
    const store = await AdminStore.open(dir);
    expect(store.owns(store.fileFor('AccessRole', undefined, 'r'))).toBe(true);
    expect(store.owns(join(dir, 'meshtrafficpermissions', 'default', 'p.yaml'))).toBe(true);
    expect(store.owns(dir)).toBe(false);
    expect(store.owns(join(dir, '..', 'elsewhere.yaml'))).toBe(false);
    expect(store.owns(`${dir}-other/x.yaml`)).toBe(false);
    expect(store.owns('/etc/policies/p.yaml')).toBe(false);
  });
});

describe('names never escape the directory', () => {
  const badNames = [
    '',
    '..',
    '.',
    '../x',
    'a/b',
    'a\\b',
    '.hidden',
    'UPPER',
    'a_b',
    '-a',
    'a-',
    'a..b',
    'x'.repeat(251),
  ];
  const badMeshes = ['', '.', '..', '../etc', 'a/b', '.hidden', '-a', 'UPPER', 'x'.repeat(254)];

  it.each(badNames)('name %j', async (name) => {
    const dir = fresh();
    const store = await AdminStore.open(dir);
    const before = files(dir);
    await expect(store.put({ ...policy('p', 'b'), name })).rejects.toBeInstanceOf(StoreError);
    await expect(store.put({ type: 'AccessRole', name, rules: [] })).rejects.toMatchObject({
      code: 'invalid-name',
    });
    expect(() => store.fileFor('AccessRoleBinding', undefined, name)).toThrow(StoreError);
    await expect(store.delete('AccessRole', undefined, name)).rejects.toBeInstanceOf(StoreError);
    await expect(store.read('AccessRole', undefined, name)).rejects.toBeInstanceOf(StoreError);
    expect(files(dir)).toEqual(before);
  });

  it.each(badMeshes)('mesh %j', async (mesh) => {
    const dir = fresh();
    const store = await AdminStore.open(dir);
    const before = files(dir);
    await expect(store.put(policy('p', 'b', mesh))).rejects.toMatchObject({ code: 'invalid-mesh' });
    expect(files(dir)).toEqual(before);
  });

  it('accepts the longest storable name and Kuma mesh names with underscores', async () => {
    const store = await AdminStore.open(fresh());
    await expect(store.put({ type: 'AccessRole', name: 'x'.repeat(250), rules: [] })).resolves.toMatchObject({
      created: true,
    });
    await expect(store.put(policy('p', 'b', 'legacy_mesh.v1'))).resolves.toMatchObject({ created: true });
  });

  it('refuses other types', async () => {
    const store = await AdminStore.open(fresh());
    expect(() => store.fileFor('Mesh', undefined, 'default')).toThrow(StoreError);
    expect(() => store.fileFor('constructor', undefined, 'x')).toThrow(StoreError);
  });
});

describe('atomic writes', () => {
  it('at every step of a write the loader sees the old or the new policy, never a partial one', async () => {
    const dir = fresh();
    const snapshots: { step: WriteStep; seen: Record<string, string | undefined> }[] = [];
    let n = 0;
    const store = await AdminStore.open(dir, {
      onStep: async (step) => {
        // A copy of the directory is what a crash at this point leaves on disk.
        const copy = join(fresh(), `crash-${n++}`);
        cpSync(dir, copy, { recursive: true });
        snapshots.push({ step, seen: await visible(copy) });
      },
    });
    await store.put(policy('p', 'old'));
    snapshots.length = 0;
    await store.put(policy('p', 'new'));
    expect(snapshots).toEqual([
      { step: 'temp-written', seen: { 'default/p': 'old' } },
      { step: 'renamed', seen: { 'default/p': 'new' } },
    ]);
  });

  it('a temp file left by a crash (even half written) is skipped by the loader and removed by cleanupTemp', async () => {
    const dir = fresh();
    const store = await AdminStore.open(dir);
    await store.put(policy('p', 'old'));
    const mtpDir = join(dir, 'meshtrafficpermissions', 'default');
    const full = readFileSync(join(mtpDir, 'p.yaml'), 'utf8').replace('old', 'new');
    const leftovers = [
      join(mtpDir, '.tmp-4242-1-p.yaml'),
      join(mtpDir, '.tmp-4242-2-p.yaml'),
      join(dir, 'access-roles', '.tmp-4242-3-r.yaml'),
    ];
    mkdirSync(join(dir, 'access-roles'), { recursive: true });
    writeFileSync(leftovers[0] ?? '', full.slice(0, full.length / 2));
    writeFileSync(leftovers[1] ?? '', full);
    writeFileSync(leftovers[2] ?? '', 'type: AccessRole\nname: r\nrules: [');
    writeFileSync(join(mtpDir, '.keep'), 'not ours');
    expect(await visible(dir)).toEqual({ 'default/p': 'old' });

    const reopened = await AdminStore.open(dir);
    expect(await reopened.cleanupTemp()).toEqual([]);
    for (const f of leftovers) expect(existsSync(f)).toBe(false);
    expect(existsSync(join(mtpDir, '.keep'))).toBe(true);
    expect(await visible(dir)).toEqual({ 'default/p': 'old' });
  });

  it('a failure before the rename leaves the old file and no temp file', async () => {
    const dir = fresh();
    let fail = false;
    const store = await AdminStore.open(dir, {
      onStep: (step) => {
        if (fail && step === 'temp-written') throw new Error('disk on fire');
      },
    });
    await store.put(policy('p', 'old'));
    fail = true;
    await expect(store.put(policy('p', 'new'))).rejects.toThrow('disk on fire');
    expect(readdirSync(join(dir, 'meshtrafficpermissions', 'default'))).toEqual(['p.yaml']);
    expect(await visible(dir)).toEqual({ 'default/p': 'old' });
    fail = false;
    expect((await store.put(policy('p', 'new'))).created).toBe(false);
  });

  it('cleanupTemp keeps the temp file of a write in flight', async () => {
    const dir = fresh();
    let removed: string[] | undefined;
    const store = new AdminStore(dir, {
      onStep: async (step, { temp }) => {
        if (step !== 'temp-written') return;
        removed = await store.cleanupTemp();
        expect(existsSync(temp)).toBe(true);
      },
    });
    await store.put(policy('p', 'b'));
    expect(removed).toEqual([]);
  });
});

describe('serialized writes', () => {
  it('concurrent writes to one resource apply in call order: the last writer wins', async () => {
    const dir = fresh();
    const order: string[] = [];
    const store = await AdminStore.open(dir, {
      onStep: async (step, { file }) => {
        if (step === 'renamed') order.push(parse(readFileSync(file, 'utf8')).spec.targetRef.name);
        // Yield so that an unserialized writer would interleave here.
        await new Promise((r) => setTimeout(r, 1));
      },
    });
    const services = Array.from({ length: 20 }, (_, i) => `svc-${i}`);
    const results = await Promise.all(services.map((s) => store.put(policy('p', s))));
    expect(order).toEqual(services);
    expect(results.map((r) => r.created)).toEqual([true, ...Array(19).fill(false)]);
    expect(await visible(dir)).toEqual({ 'default/p': 'svc-19' });
    expect(readdirSync(join(dir, 'meshtrafficpermissions', 'default'))).toEqual(['p.yaml']);
  });

  it('a delete queued behind a put runs after it', async () => {
    const store = await AdminStore.open(fresh());
    const [put, del] = await Promise.all([
      store.put(policy('p', 'b')),
      store.delete('MeshTrafficPermission', 'default', 'p'),
    ]);
    expect(put.created).toBe(true);
    expect(del.deleted).toBe(true);
  });

  it('withResource holds the lock across the whole transaction; a failure releases it', async () => {
    const store = await AdminStore.open(fresh());
    const events: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const first = store.withResource('MeshTrafficPermission', 'default', 'p', async (tx) => {
      events.push(`first read ${await tx.read()}`);
      await gate;
      await tx.put(policy('p', 'first'));
      events.push('first done');
    });
    const second = store.put(policy('p', 'second')).then(() => events.push('second done'));
    const other = store.put(policy('q', 'other')).then(() => events.push('other resource done'));
    await other;
    release();
    await Promise.all([first, second]);
    expect(events).toEqual(['first read undefined', 'other resource done', 'first done', 'second done']);

    await expect(
      store.withResource('MeshTrafficPermission', 'default', 'p', async () => {
        throw new Error('authorization failed');
      }),
    ).rejects.toThrow('authorization failed');
    await expect(store.put(policy('p', 'after'))).resolves.toMatchObject({ created: false });
  });

  it('a transaction cannot write another resource', async () => {
    const store = await AdminStore.open(fresh());
    await expect(
      store.withResource('MeshTrafficPermission', 'default', 'p', (tx) => tx.put(policy('q', 'b'))),
    ).rejects.toThrow('not the locked resource');
  });
});
