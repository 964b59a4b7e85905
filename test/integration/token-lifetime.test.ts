/**
 * Token lifetime and revocation against the running service (the CLI for exit codes): `validFor` past
 * `--max-token-lifetime` is refused (400 from the API, exit 2 from `mtp-authz token`), tokens carry a `jti`,
 * and a token whose id or user appears in `--token-revocation-list` is refused with 401 as soon as the list
 * changes.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { issueToken, signingKeyFromBytes } from '../../src/admin/tokens.js';
import { serveInProcess } from '../support/serve-in-process.js';
import { servePerTest } from '../support/serve-per-test.js';
import { REPO } from '../support/server.js';

const SECRET = 'a-shared-secret-of-at-least-32-bytes-for-tests';
const RBAC = `type: AccessRoleBinding
name: default
subjects: [{type: Group, name: mesh-system:authenticated}]
roles: [admin]
`;
const UNAUTHENTICATED = { status: 401, title: 'Unauthenticated', detail: 'Invalid authentication data' };

const start = servePerTest(serveInProcess);

function files() {
  const dir = mkdtempSync(join(tmpdir(), 'mtp-token-life-'));
  writeFileSync(join(dir, 'key'), `${SECRET}\n`);
  writeFileSync(join(dir, 'rbac.yaml'), RBAC);
  writeFileSync(join(dir, 'revoked'), '# token ids or user names\n');
  return dir;
}

/** Replaces a file the safe way: write beside it, then rename over it. */
function replace(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

const claims = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString());

async function issue(s: { httpPort: number }, body: unknown): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${s.httpPort}/tokens/user`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}

async function write(
  s: { httpPort: number },
  token: string,
  name: string,
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`http://127.0.0.1:${s.httpPort}/access-roles/${name}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/yaml' },
    body: `type: AccessRole\nname: ${name}\nrules: [{types: [MeshTrafficPermission], access: [CREATE]}]\n`,
  });
  return { status: res.status, json: await res.json() };
}

describe('--max-token-lifetime', () => {
  it('POST /tokens/user with a validFor past the limit answers 400; within it, a token with a jti', async () => {
    const dir = files();
    const { server: s } = await start([
      '--policies',
      join(dir, 'rbac.yaml'),
      '--token-signing-key',
      join(dir, 'key'),
      '--max-token-lifetime',
      '12h',
    ]);
    for (const validFor of ['13h', '99999999999h']) {
      const refused = await issue(s, { name: 'ci', validFor });
      expect(refused.status).toBe(400);
      expect(JSON.parse(refused.text)).toEqual({
        status: 400,
        title: 'Bad Request',
        detail: `validFor: ${validFor} is longer than the maximum token lifetime of 12h (--max-token-lifetime)`,
        errors: [],
      });
    }
    const issued = await issue(s, { name: 'ci', validFor: '12h' });
    expect(issued.status).toBe(200);
    const c = claims(issued.text.trim());
    expect(c.exp - c.iat).toBe(12 * 3600);
    expect(c.jti).toMatch(/^[0-9a-f-]{36}$/);
    // A token the key signed for longer than the limit (before it was set) is refused.
    const key = signingKeyFromBytes('key', Buffer.from(SECRET));
    const old = await issueToken(key, { name: 'old', groups: [], validForSeconds: 48 * 3600 });
    expect(await write(s, old, 'from-old-token')).toEqual({ status: 401, json: UNAUTHENTICATED });
  });

  it('mtp-authz token refuses a --valid-for past the limit with exit 2 and one line', () => {
    const dir = files();
    const run = (args: string[]) =>
      spawnSync(process.execPath, [join(REPO, 'dist/cli.js'), 'token', '--name', 'x', ...args], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH },
      });
    const key = ['--token-signing-key', join(dir, 'key')];
    expect(run(['--valid-for', '25h', ...key])).toMatchObject({
      status: 2,
      stdout: '',
      stderr:
        'mtp-authz token: --valid-for: 25h is longer than the maximum token lifetime of 24h (--max-token-lifetime)\n',
    });
    expect(run(['--valid-for', '2h', '--max-token-lifetime', '1h30m', ...key])).toMatchObject({
      status: 2,
      stderr:
        'mtp-authz token: --valid-for: 2h is longer than the maximum token lifetime of 1h30m (--max-token-lifetime)\n',
    });
    const ok = run(['--valid-for', '24h', ...key]);
    expect(ok.status).toBe(0);
    expect(claims(ok.stdout.trim()).jti).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('--token-revocation-list', () => {
  it('refuses a token once its jti, or its user, is listed (401), reloading the list on change', async () => {
    const dir = files();
    const list = join(dir, 'revoked');
    const { server: s } = await start([
      '--policies',
      join(dir, 'rbac.yaml'),
      '--admin-state-dir',
      join(dir, 'state'),
      '--token-signing-key',
      join(dir, 'key'),
      '--token-revocation-list',
      list,
    ]);
    const alice = (await issue(s, { name: 'alice' })).text.trim();
    const bob = (await issue(s, { name: 'bob' })).text.trim();
    const bob2 = (await issue(s, { name: 'bob' })).text.trim();
    expect((await write(s, alice, 'a1')).status).toBe(201);
    expect((await write(s, bob, 'b1')).status).toBe(201);

    replace(list, `# leaked in a CI log\n${claims(alice).jti}\n`);
    await expect.poll(async () => (await write(s, alice, 'a2')).status, { timeout: 10_000 }).toBe(401);
    expect(await write(s, alice, 'a3')).toEqual({ status: 401, json: UNAUTHENTICATED });
    expect((await write(s, bob, 'b2')).status).toBe(201);

    replace(list, `${claims(alice).jti}\nbob\n`);
    await expect.poll(async () => (await write(s, bob, 'b3')).status, { timeout: 10_000 }).toBe(401);
    expect(await write(s, bob2, 'b4')).toEqual({ status: 401, json: UNAUTHENTICATED });
    expect(s.logs.some((l) => l.msg === 'token revocation list reloaded' && l.entries === 2)).toBe(true);
  });

  it('an unreadable list at start-up exits 2 naming it', async () => {
    const dir = files();
    const { spawnServe } = await import('../support/server.js');
    const missing = join(dir, 'missing');
    const server = spawnServe(['--policies', join(dir, 'rbac.yaml'), '--token-revocation-list', missing]);
    expect(await server.exited).toBe(2);
    expect(server.logs.map((l) => l.msg)).toContain(
      `cannot read --token-revocation-list ${missing}: ENOENT: no such file or directory, open '${missing}'`,
    );
  });
});
