/**
 * The Kong Mesh RBAC walk-through (as in admin.test.ts) across replicas of one store: roles,
 * bindings and the owner's token come from writes on replica A; replica B authorizes the owner's
 * writes with them; replica C's Checks follow what B accepted.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectAccessDenied, tokenFromCli as cliToken, writeSigningKey } from '../support/admin-http.js';
import {
  BACKEND_OWNER_ROLE_YAML as BACKEND_OWNER_ROLE,
  BACKEND_OWNERS_BINDING_YAML as BACKEND_OWNERS_BINDING,
  RESTRICT_DEFAULT_YAML as RESTRICT_DEFAULT,
} from '../support/policy-yaml.js';
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
import { tempDir } from '../support/temp-files.js';
import { useTestDatabase } from '../support/use-database.js';

const db = useTestDatabase();
let dir: string;
let keyFile: string;
beforeAll(() => {
  dir = tempDir('mtp-store-rbac-');
  keyFile = writeSigningKey(dir);
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const replicas = replicasPerTest();

const tokenFromCli = (...args: string[]): string => cliToken(keyFile, ...args);

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
      expectAccessDenied(refused, 'backend-owner/mesh-system:authenticated');
      const anonymous = await call(b, 'DELETE', path);
      expectAccessDenied(anonymous, 'mesh-system:anonymous/mesh-system:unauthenticated');
      // The restricted default binding written on A holds on C too: a token holder who is not an
      // admin (the built-in default would make them one) may not write.
      await servesVersion(c, created.version);
      const stranger = tokenFromCli('--name', 'stranger');
      const strangerPut = await call(c, 'PUT', path, {
        token: stranger,
        yaml: permission('web-to-backend', 'backend'),
      });
      expectAccessDenied(strangerPut, 'stranger/mesh-system:authenticated');

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
