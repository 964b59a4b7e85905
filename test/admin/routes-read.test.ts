/**
 * Admin API reads: open to everyone, the serving set in the Universal form (whichever form the
 * file used), lists with the built-ins unless redefined, exact 404 and 401 bodies.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, mtpDoc, mtpPath, startAdmin, tokenFor, WALKTHROUGH_RBAC } from './routes-harness.js';

const UNIVERSAL = `type: MeshTrafficPermission
name: ops-universal
mesh: default
labels:
  team: payments
spec:
  targetRef: {kind: MeshService, name: db}
  from:
    - targetRef: {kind: MeshSubset, tags: {kuma.io/zone: east}}
      default: {action: Deny}
`;
const KUBERNETES = `apiVersion: kuma.io/v1alpha1
kind: MeshTrafficPermission
metadata:
  name: ops-kubernetes
  namespace: kuma-system
  labels:
    kuma.io/mesh: default
spec:
  from:
    - targetRef: {kind: Mesh}
      default: {action: Allow}
`;
const OTHER_MESH = `type: MeshTrafficPermission
name: elsewhere
mesh: other
spec:
  from:
    - targetRef: {kind: Mesh}
      default: {action: Allow}
`;

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('lists', () => {
  it('MeshTrafficPermissions of one mesh: operators files (both forms) and API ones, in the Universal form', async () => {
    h = await startAdmin({ files: { 'a.yaml': UNIVERSAL, 'b.yaml': KUBERNETES, 'c.yaml': OTHER_MESH } });
    expect(
      (await h.request('PUT', mtpPath('api-written'), { body: mtpDoc('api-written', 'web') })).status,
    ).toBe(201);
    const list = await h.request('GET', '/meshes/default/meshtrafficpermissions');
    expect(list.status).toBe(200);
    expect(list.contentType).toBe('application/json');
    expect(list.body).toEqual({
      total: 3,
      items: [
        mtpDoc('api-written', 'web'),
        {
          type: 'MeshTrafficPermission',
          mesh: 'default',
          name: 'ops-kubernetes',
          labels: { 'kuma.io/mesh': 'default' },
          spec: {
            targetRef: { kind: 'Mesh' },
            from: [{ targetRef: { kind: 'Mesh' }, default: { action: 'Allow' } }],
          },
        },
        {
          type: 'MeshTrafficPermission',
          mesh: 'default',
          name: 'ops-universal',
          labels: { team: 'payments' },
          spec: {
            targetRef: { kind: 'MeshService', name: 'db' },
            from: [
              {
                targetRef: { kind: 'MeshSubset', tags: { 'kuma.io/zone': 'east' } },
                default: { action: 'Deny' },
              },
            ],
          },
        },
      ],
      next: null,
    });
    const other = await h.request('GET', '/meshes/other/meshtrafficpermissions');
    expect(other.body).toMatchObject({ total: 1, items: [{ name: 'elsewhere', mesh: 'other' }], next: null });
    expect((await h.request('GET', '/meshes/nowhere/meshtrafficpermissions')).body).toEqual({
      total: 0,
      items: [],
      next: null,
    });
  });

  it('roles and bindings include the built-ins', async () => {
    h = await startAdmin();
    expect((await h.request('GET', '/access-roles')).body).toEqual({
      total: 1,
      items: [
        {
          type: 'AccessRole',
          name: 'admin',
          rules: [{ access: ['CREATE', 'UPDATE', 'DELETE', 'GENERATE_USER_TOKEN'] }],
        },
      ],
      next: null,
    });
    expect((await h.request('GET', '/access-role-bindings')).body).toEqual({
      total: 1,
      items: [
        {
          type: 'AccessRoleBinding',
          name: 'default',
          subjects: [
            { type: 'Group', name: 'mesh-system:authenticated' },
            { type: 'Group', name: 'mesh-system:unauthenticated' },
          ],
          roles: ['admin'],
        },
      ],
      next: null,
    });
  });

  it('a redefined built-in is listed once, as redefined; rules keep mesh and when qualifiers', async () => {
    h = await startAdmin({ files: { 'rbac.yaml': WALKTHROUGH_RBAC } });
    const bindings = await h.request('GET', '/access-role-bindings');
    expect(bindings.body.items).toEqual([
      {
        type: 'AccessRoleBinding',
        name: 'backend-owners',
        subjects: [{ type: 'User', name: 'backend-owner' }],
        roles: ['backend-owner'],
      },
      {
        type: 'AccessRoleBinding',
        name: 'default',
        subjects: [{ type: 'Group', name: 'mesh-system:admin' }],
        roles: ['admin'],
      },
    ]);
    const roles = await h.request('GET', '/access-roles');
    expect(roles.body.total).toBe(2);
    expect(roles.body.items[1]).toEqual({
      type: 'AccessRole',
      name: 'backend-owner',
      rules: [
        {
          types: ['MeshTrafficPermission'],
          mesh: 'default',
          access: ['CREATE', 'UPDATE', 'DELETE'],
          when: [{ targetRef: { kind: 'MeshService', name: 'backend' } }],
        },
      ],
    });
  });
});

describe('one resource', () => {
  it('GET answers the Universal form; a missing one is 404 with an exact body', async () => {
    h = await startAdmin({ files: { 'a.yaml': UNIVERSAL } });
    const found = await h.request('GET', mtpPath('ops-universal'));
    expect(found.status).toBe(200);
    expect(found.body).toMatchObject({
      type: 'MeshTrafficPermission',
      name: 'ops-universal',
      labels: { team: 'payments' },
    });
    const missing = await h.request('GET', mtpPath('nope'));
    expect(missing.status).toBe(404);
    expect(missing.text).toBe(
      '{"status":404,"title":"Not Found","detail":"MeshTrafficPermission \\"nope\\" not found in mesh \\"default\\""}\n',
    );
    expect((await h.request('GET', mtpPath('ops-universal', 'other'))).status).toBe(404);
    const role = await h.request('GET', '/access-roles/nope');
    expect(role.body).toEqual({ status: 404, title: 'Not Found', detail: 'AccessRole "nope" not found' });
    expect((await h.request('GET', '/access-roles/admin')).body).toMatchObject({ name: 'admin' });
    expect((await h.request('GET', '/access-role-bindings/default')).body).toMatchObject({ name: 'default' });
  });

  it('what GET answers can be PUT back unchanged (200)', async () => {
    h = await startAdmin();
    await h.request('PUT', mtpPath('round-trip'), {
      body: mtpDoc('round-trip', 'web', { labels: { a: 'b' } }),
    });
    const got = await h.request('GET', mtpPath('round-trip'));
    const again = await h.request('PUT', mtpPath('round-trip'), { body: got.body });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(got.body);
  });
});

describe('reads need no credentials, but refuse bad ones', () => {
  it('anonymous reads are answered even when writes are locked down', async () => {
    h = await startAdmin({ files: { 'rbac.yaml': WALKTHROUGH_RBAC } });
    expect((await h.request('GET', '/access-roles')).status).toBe(200);
    expect((await h.request('GET', '/access-roles', { token: await tokenFor('someone') })).status).toBe(200);
  });

  it('a token that does not verify is a 401, on reads too', async () => {
    h = await startAdmin();
    const bad = await h.request('GET', '/access-roles', { token: 'not-a-jwt' });
    expect(bad.status).toBe(401);
    expect(bad.text).toBe(
      '{"status":401,"title":"Unauthenticated","detail":"Invalid authentication data"}\n',
    );
  });

  it('counts every answered request by method and status', async () => {
    h = await startAdmin();
    await h.request('GET', '/access-roles');
    await h.request('GET', '/access-roles/nope');
    await h.request('HEAD', '/access-role-bindings');
    expect(h.counted).toEqual([
      ['GET', 200],
      ['GET', 404],
      ['HEAD', 200],
    ]);
  });
});
