/**
 * The RBAC walk-through of the Kong Mesh reference page (Universal, targetRef policies), against
 * the running CLI: an admin token from `mtp-authz token`, default restricted to mesh-system:admin,
 * role and binding for backend-owner, a token for backend-owner from POST /tokens/user, then as
 * backend-owner a policy for backend (201, Check decisions change) and one for not-backend (403).
 * Audit lines on stdout; and after a restart, everything written is still served.
 */
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TestClient } from '../authz/wire.js';
import { makeWorkloadCert } from '../support/certs.js';
import { mtp, service } from '../support/policies.js';
import {
  BACKEND_OWNER_ROLE_YAML,
  BACKEND_OWNERS_BINDING_YAML,
  mtpYaml,
  RESTRICT_DEFAULT_YAML,
} from '../support/policy-yaml.js';
import { servePerTest } from '../support/serve-per-test.js';
import { REPO, type StartedServe } from '../support/server.js';

const start = servePerTest();

const WEB = makeWorkloadCert({ uris: ['spiffe://default/web'] }).urlEncoded;
const WEB_TO_BACKEND = {
  source: { certificate: WEB },
  destination: { principal: 'spiffe://default/backend' },
};

const policyFor = (target: string) =>
  mtpYaml(mtp('web-to-backend', service(target), [[service('web'), 'Allow']]));

function tokenFromCli(keyFile: string, ...args: string[]): string {
  const run = spawnSync(
    process.execPath,
    [join(REPO, 'dist/cli.js'), 'token', ...args, '--token-signing-key', keyFile],
    { encoding: 'utf8' },
  );
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return run.stdout.trim();
}

async function call(
  s: StartedServe,
  method: string,
  path: string,
  options: { token?: string; yaml?: string; json?: unknown } = {},
): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.yaml !== undefined) {
    headers['content-type'] = 'application/yaml';
    body = options.yaml;
  } else if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  }
  const res = await fetch(`http://127.0.0.1:${s.httpPort}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body }),
  });
  return { status: res.status, text: await res.text() };
}

async function decision(c: TestClient): Promise<{ code: number; policy?: string }> {
  const answer = await c.check(WEB_TO_BACKEND);
  const policy = answer.metadata.enforced_effective_policy_id;
  return { code: answer.code, ...(policy ? { policy } : {}) };
}

function audits(s: StartedServe): Record<string, unknown>[] {
  return s.stdout
    .filter((line) => line.startsWith('{"audit":true'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('the reference RBAC walk-through', () => {
  it('backend-owner may manage the permissions of backend and nothing else', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtp-admin-walkthrough-'));
    const keyFile = join(dir, 'signing-key.pem');
    const pair = generateKeyPairSync('ed25519');
    writeFileSync(keyFile, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const stateDir = join(dir, 'state');
    const args = [
      '--admin-state-dir',
      stateDir,
      '--token-signing-key',
      keyFile,
      '--no-admin-localhost-is-admin',
    ];
    let { server, client } = await start(args);
    expect(await decision(client)).toEqual({ code: 7 });

    // 1-3. The admin token, and default restricted to the mesh-system:admin group.
    const admin = tokenFromCli(keyFile, '--name', 'admin', '--group', 'mesh-system:admin');
    expect(
      (
        await call(server, 'PUT', '/access-role-bindings/default', {
          token: admin,
          yaml: RESTRICT_DEFAULT_YAML,
        })
      ).status,
    ).toBe(200);
    // 4. The backend-owner role and its binding.
    expect(
      (
        await call(server, 'PUT', '/access-roles/backend-owner', {
          token: admin,
          yaml: BACKEND_OWNER_ROLE_YAML,
        })
      ).status,
    ).toBe(201);
    expect(
      (
        await call(server, 'PUT', '/access-role-bindings/backend-owners', {
          token: admin,
          yaml: BACKEND_OWNERS_BINDING_YAML,
        })
      ).status,
    ).toBe(201);
    const issued = await call(server, 'POST', '/tokens/user', {
      token: admin,
      json: { name: 'backend-owner', validFor: '24h' },
    });
    expect(issued.status).toBe(200);
    const owner = issued.text.trim();

    // 5. As backend-owner: the policy for backend is applied, and served before the answer.
    const path = '/meshes/default/meshtrafficpermissions/web-to-backend';
    const created = await call(server, 'PUT', path, { token: owner, yaml: policyFor('backend') });
    expect(created.status).toBe(201);
    expect(await decision(client)).toEqual({ code: 0, policy: 'web-to-backend' });

    // ...and the one for not-backend is refused, with Kong Mesh's message.
    const refused = await call(server, 'PUT', path, { token: owner, yaml: policyFor('not-backend') });
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.text)).toEqual({
      status: 403,
      title: 'Access Denied',
      detail: 'user "backend-owner/mesh-system:authenticated" cannot access the resource',
    });
    expect(await decision(client)).toEqual({ code: 0, policy: 'web-to-backend' });
    // Nobody else may write any more.
    expect((await call(server, 'DELETE', path)).status).toBe(403);

    // stdout is asynchronous: the last line may reach the pipe just after its answer.
    await expect.poll(() => audits(server).length).toBe(7);
    expect(audits(server).map((a) => [a.user, a.verb, a.type, a.name, a.result, a.status])).toEqual([
      ['admin', 'UPDATE', 'AccessRoleBinding', 'default', 'allowed', 200],
      ['admin', 'CREATE', 'AccessRole', 'backend-owner', 'allowed', 201],
      ['admin', 'CREATE', 'AccessRoleBinding', 'backend-owners', 'allowed', 201],
      ['admin', 'GENERATE_USER_TOKEN', 'UserToken', 'backend-owner', 'allowed', 200],
      ['backend-owner', 'CREATE', 'MeshTrafficPermission', 'web-to-backend', 'allowed', 201],
      ['backend-owner', 'UPDATE', 'MeshTrafficPermission', 'web-to-backend', 'denied', 403],
      ['mesh-system:anonymous', 'DELETE', 'MeshTrafficPermission', 'web-to-backend', 'denied', 403],
    ]);
    expect(audits(server)[4]).toMatchObject({ groups: ['mesh-system:authenticated'], mesh: 'default' });

    // A restart serves everything written through the API, RBAC included.
    server.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    ({ server, client } = await start(args));
    expect(await decision(client)).toEqual({ code: 0, policy: 'web-to-backend' });
    const again = await call(server, 'PUT', path, { token: owner, yaml: policyFor('not-backend') });
    expect(again.status).toBe(403);
    const deleted = await call(server, 'DELETE', path, { token: owner });
    expect(deleted.status).toBe(200);
    expect(await decision(client)).toEqual({ code: 7 });
  });
});
