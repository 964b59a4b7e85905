/**
 * The Kong Mesh RBAC walk-through (as in admin.test.ts) across replicas of one store: roles,
 * bindings and the owner's token come from writes on replica A; replica B authorizes the owner's
 * writes with them; replica C's Checks follow what B accepted.
 */
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDatabase, type TestDatabase } from '../support/postgres.js';
import {
  call,
  decision,
  mtpPath,
  permission,
  type Replica,
  replicasPerTest,
  servesVersion,
  write,
} from '../support/replicas.js';
import { REPO } from '../support/server.js';

let db: TestDatabase;
let dir: string;
let keyFile: string;
beforeAll(async () => {
  db = await startTestDatabase();
  dir = mkdtempSync(join(tmpdir(), 'mtp-store-rbac-'));
  keyFile = join(dir, 'signing-key.pem');
  writeFileSync(keyFile, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
});
afterAll(async () => {
  await db?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const replicas = replicasPerTest();

const RESTRICT_DEFAULT = `type: AccessRoleBinding
name: default
subjects:
- type: Group
  name: mesh-system:admin
roles:
- admin
`;
const BACKEND_OWNER_ROLE = `type: AccessRole
name: backend-owner
rules:
- types: ["MeshTrafficPermission"]
  mesh: default
  access: ["CREATE", "UPDATE", "DELETE"]
  when:
  - targetRef:
      kind: MeshService
      name: backend
`;
const BACKEND_OWNERS_BINDING = `type: AccessRoleBinding
name: backend-owners
subjects:
- type: User
  name: backend-owner
roles:
- backend-owner
`;

function tokenFromCli(...args: string[]): string {
  const run = spawnSync(
    process.execPath,
    [join(REPO, 'dist/cli.js'), 'token', ...args, '--token-signing-key', keyFile],
    { encoding: 'utf8' },
  );
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return run.stdout.trim();
}

function audits(replica: Replica): unknown[][] {
  return replica.server.stdout
    .filter((line) => line.startsWith('{"audit":true'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .map((a) => [a.user, a.verb, a.type, a.name, a.result, a.status]);
}

describe('the reference RBAC walk-through across replicas', () => {
  it(
    'roles written on A decide what B accepts, and C enforces what B accepted',
    { timeout: 45_000 },
    async () => {
      const args = ['--token-signing-key', keyFile, '--no-admin-localhost-is-admin'];
      const [a, b, c] = (await replicas(await db.createDatabase('rbac'), ['A', 'B', 'C'], args)) as [
        Replica,
        Replica,
        Replica,
      ];
      const path = mtpPath('web-to-backend');
      expect(await decision(c)).toEqual({ code: 7 });

      // On A, as admin: default restricted to mesh-system:admin, the owner's role and binding, and a
      // token for the owner.
      const admin = tokenFromCli('--name', 'admin', '--group', 'mesh-system:admin');
      expect(
        (await write(a, 'PUT', '/access-role-bindings/default', { token: admin, yaml: RESTRICT_DEFAULT }))
          .status,
      ).toBe(200);
      expect(
        (await write(a, 'PUT', '/access-roles/backend-owner', { token: admin, yaml: BACKEND_OWNER_ROLE }))
          .status,
      ).toBe(201);
      const bound = await write(a, 'PUT', '/access-role-bindings/backend-owners', {
        token: admin,
        yaml: BACKEND_OWNERS_BINDING,
      });
      expect(bound.status).toBe(201);
      const issued = await call(a, 'POST', '/tokens/user', {
        token: admin,
        json: { name: 'backend-owner', validFor: '1h' },
      });
      expect(issued.status).toBe(200);
      const owner = issued.text.trim();

      // On B, once it serves A's writes: the owner's policy for backend is accepted...
      await servesVersion(b, bound.version);
      const created = await write(b, 'PUT', path, {
        token: owner,
        yaml: permission('web-to-backend', 'backend'),
      });
      expect(created.status).toBe(201);
      // ...the one for not-backend refused with Kong Mesh's message, and anonymous writes too.
      const refused = await call(b, 'PUT', path, {
        token: owner,
        yaml: permission('web-to-backend', 'not-backend'),
      });
      expect(refused.status).toBe(403);
      expect(JSON.parse(refused.text)).toEqual({
        status: 403,
        title: 'Access Denied',
        detail: 'user "backend-owner/mesh-system:authenticated" cannot access the resource',
      });
      const anonymous = await call(b, 'DELETE', path);
      expect(anonymous.status).toBe(403);
      expect(JSON.parse(anonymous.text)).toEqual({
        status: 403,
        title: 'Access Denied',
        detail: 'user "mesh-system:anonymous/mesh-system:unauthenticated" cannot access the resource',
      });
      // The restricted default binding written on A holds on C too: a token holder who is not an
      // admin (the built-in default would make them one) may not write.
      await servesVersion(c, created.version);
      const stranger = tokenFromCli('--name', 'stranger');
      const strangerPut = await call(c, 'PUT', path, {
        token: stranger,
        yaml: permission('web-to-backend', 'backend'),
      });
      expect(strangerPut.status).toBe(403);
      expect(JSON.parse(strangerPut.text)).toEqual({
        status: 403,
        title: 'Access Denied',
        detail: 'user "stranger/mesh-system:authenticated" cannot access the resource',
      });

      // C enforces B's write; the refused one changed nothing.
      expect(await decision(c)).toEqual({ code: 0, policy: 'web-to-backend' });
      expect(await decision(a)).toEqual({ code: 0, policy: 'web-to-backend' });

      // The owner deletes it through C; A's Checks follow.
      const deleted = await write(c, 'DELETE', path, { token: owner });
      await servesVersion(a, deleted.version);
      expect(await decision(a)).toEqual({ code: 7 });

      // Each replica audits the attempts it took.
      await expect.poll(() => audits(a).length, { timeout: 5_000 }).toBe(4);
      expect(audits(a)).toEqual([
        ['admin', 'UPDATE', 'AccessRoleBinding', 'default', 'allowed', 200],
        ['admin', 'CREATE', 'AccessRole', 'backend-owner', 'allowed', 201],
        ['admin', 'CREATE', 'AccessRoleBinding', 'backend-owners', 'allowed', 201],
        ['admin', 'GENERATE_USER_TOKEN', 'UserToken', 'backend-owner', 'allowed', 200],
      ]);
      await expect.poll(() => audits(b).length, { timeout: 5_000 }).toBe(3);
      expect(audits(b)).toEqual([
        ['backend-owner', 'CREATE', 'MeshTrafficPermission', 'web-to-backend', 'allowed', 201],
        ['backend-owner', 'UPDATE', 'MeshTrafficPermission', 'web-to-backend', 'denied', 403],
        ['mesh-system:anonymous', 'DELETE', 'MeshTrafficPermission', 'web-to-backend', 'denied', 403],
      ]);
      await expect.poll(() => audits(c).length, { timeout: 5_000 }).toBe(2);
      expect(audits(c)).toEqual([
        ['stranger', 'UPDATE', 'MeshTrafficPermission', 'web-to-backend', 'denied', 403],
        ['backend-owner', 'DELETE', 'MeshTrafficPermission', 'web-to-backend', 'allowed', 200],
      ]);
    },
  );
});
