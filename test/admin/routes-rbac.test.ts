/**
 * Who may write through the admin API: 401 for every kind of bad token, 403 with the exact body,
 * the reference page's backend-owner scope (CREATE the new object, DELETE the stored one, UPDATE
 * both), localhost-is-admin with its proxy-header guard, static access, 409 only after
 * authorization, and POST /tokens/user. One audit line per attempt.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { issueToken, signingKeyFromBytes, verifyToken } from '../../src/admin/tokens.js';
import {
  type Harness,
  KEY,
  mtpDoc,
  mtpPath,
  startAdmin,
  tokenFor,
  WALKTHROUGH_RBAC,
} from './routes-harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const UNAUTHENTICATED = '{"status":401,"title":"Unauthenticated","detail":"Invalid authentication data"}\n';
const denied = (who: string) =>
  `{"status":403,"title":"Access Denied","detail":"user \\"${who}\\" cannot access the resource"}\n`;
const OWNER_DENIED = denied('backend-owner/mesh-system:authenticated');

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const OTHER_KEY = signingKeyFromBytes('other', Buffer.from('another-secret-that-is-at-least-32-bytes'));

const admin = () => tokenFor('root', ['mesh-system:admin']);
const owner = () => tokenFor('backend-owner');

describe('401', () => {
  it('expired, wrong key, alg none, tampered groups, not a bearer token', async () => {
    h = await startAdmin({ files: { 'rbac.yaml': WALKTHROUGH_RBAC } });
    const now = Math.floor(Date.now() / 1000);
    const valid = await owner();
    const [header, , signature] = valid.split('.');
    const tokens = {
      expired: await issueToken(
        KEY,
        { name: 'root', groups: ['mesh-system:admin'], validForSeconds: 3600 },
        Date.now() - 7200_000,
      ),
      'wrong key': await tokenFor('root', ['mesh-system:admin'], OTHER_KEY),
      'alg none': `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ name: 'root', groups: ['mesh-system:admin'], iat: now, exp: now + 60 })}.`,
      tampered: `${header}.${b64({ name: 'backend-owner', groups: ['mesh-system:admin'], iat: now, exp: now + 60 })}.${signature}`,
    };
    for (const [what, token] of Object.entries(tokens)) {
      const answer = await h.request('PUT', mtpPath('web-to-backend'), {
        body: mtpDoc('web-to-backend', 'backend'),
        token,
      });
      expect(answer.status, what).toBe(401);
      expect(answer.text, what).toBe(UNAUTHENTICATED);
    }
    const basic = await h.request('DELETE', mtpPath('x'), {
      headers: { authorization: 'Basic cm9vdDpyb290' },
    });
    expect(basic.text).toBe(UNAUTHENTICATED);
    const tokenRoute = await h.request('POST', '/tokens/user', { body: { name: 'x' }, token: 'garbage' });
    expect(tokenRoute.text).toBe(UNAUTHENTICATED);
    expect(h.audits).toHaveLength(6);
    for (const line of h.audits)
      expect(line).toMatchObject({ user: null, groups: [], result: 'unauthenticated', status: 401 });
    expect(h.audits[0]).toEqual({
      audit: true,
      time: expect.any(String),
      user: null,
      groups: [],
      verb: 'CREATE',
      type: 'MeshTrafficPermission',
      mesh: 'default',
      name: 'web-to-backend',
      result: 'unauthenticated',
      status: 401,
    });
  });

  it('every token is refused when the server has no signing key', async () => {
    h = await startAdmin({ key: null });
    const answer = await h.request('PUT', mtpPath('a'), { body: mtpDoc('a', 'b'), token: await admin() });
    expect(answer.text).toBe(UNAUTHENTICATED);
  });
});

describe('the reference walk-through scope (role backend-owner)', () => {
  it('may create in scope; may not switch the targetRef out of scope (UPDATE checks both)', async () => {
    h = await startAdmin({ files: { 'rbac.yaml': WALKTHROUGH_RBAC } });
    const token = await owner();
    const created = await h.request('PUT', mtpPath('web-to-backend'), {
      body: mtpDoc('web-to-backend', 'backend', { from: 'web' }),
      token,
    });
    expect(created.status).toBe(201);
    const file = join(h.stateDir, 'meshtrafficpermissions/default/web-to-backend.yaml');
    const stored = readFileSync(file, 'utf8');

    const moved = await h.request('PUT', mtpPath('web-to-backend'), {
      body: mtpDoc('web-to-backend', 'not-backend', { from: 'web' }),
      token,
    });
    expect(moved.status).toBe(403);
    expect(moved.text).toBe(OWNER_DENIED);
    expect(readFileSync(file, 'utf8')).toBe(stored);

    const outside = await h.request('PUT', mtpPath('new-one'), {
      body: mtpDoc('new-one', 'not-backend'),
      token,
    });
    expect(outside.text).toBe(OWNER_DENIED);
    const otherMesh = await h.request('PUT', mtpPath('x', 'other'), {
      body: mtpDoc('x', 'backend', { mesh: 'other' }),
      token,
    });
    expect(otherMesh.status).toBe(403);
    const role = await h.request('PUT', '/access-roles/mine', {
      body: { type: 'AccessRole', name: 'mine', rules: [{ access: ['CREATE'] }] },
      token,
    });
    expect(role.status).toBe(403);

    expect((await h.request('DELETE', mtpPath('web-to-backend'), { token })).status).toBe(200);
    expect(h.audits.map((a) => [a.user, a.verb, a.result, a.status])).toEqual([
      ['backend-owner', 'CREATE', 'allowed', 201],
      ['backend-owner', 'UPDATE', 'denied', 403],
      ['backend-owner', 'CREATE', 'denied', 403],
      ['backend-owner', 'CREATE', 'denied', 403],
      ['backend-owner', 'CREATE', 'denied', 403],
      ['backend-owner', 'DELETE', 'allowed', 200],
    ]);
  });

  it('may neither delete nor take over a policy out of scope (DELETE and UPDATE check the stored one)', async () => {
    h = await startAdmin({ files: { 'rbac.yaml': WALKTHROUGH_RBAC } });
    const put = await h.request('PUT', mtpPath('theirs'), {
      body: mtpDoc('theirs', 'payments'),
      token: await admin(),
    });
    expect(put.status).toBe(201);
    const token = await owner();
    const deleted = await h.request('DELETE', mtpPath('theirs'), { token });
    expect(deleted.text).toBe(OWNER_DENIED);
    const takeover = await h.request('PUT', mtpPath('theirs'), { body: mtpDoc('theirs', 'backend'), token });
    expect(takeover.text).toBe(OWNER_DENIED);
    expect((await h.request('GET', mtpPath('theirs'))).body.spec.targetRef).toEqual({
      kind: 'MeshService',
      name: 'payments',
    });
  });

  it('anonymous callers are denied once default is restricted', async () => {
    h = await startAdmin({ files: { 'rbac.yaml': WALKTHROUGH_RBAC } });
    const answer = await h.request('PUT', mtpPath('a'), { body: mtpDoc('a', 'backend') });
    expect(answer.text).toBe(denied('mesh-system:anonymous/mesh-system:unauthenticated'));
    expect(h.audits).toMatchObject([
      { user: 'mesh-system:anonymous', groups: ['mesh-system:unauthenticated'] },
    ]);
  });

  it('groups appear in token order, then mesh-system:authenticated', async () => {
    h = await startAdmin({ files: { 'rbac.yaml': WALKTHROUGH_RBAC } });
    const token = await tokenFor('alice', ['dev', 'ops']);
    const answer = await h.request('DELETE', '/access-roles/backend-owner', { token });
    expect(answer.text).toBe(denied('alice/dev,ops,mesh-system:authenticated'));
  });
});

describe('409 comes after authorization', () => {
  it('an unauthorized caller learns nothing about operators files', async () => {
    h = await startAdmin({ files: { 'rbac.yaml': WALKTHROUGH_RBAC } });
    const asOwner = await h.request('PUT', '/access-roles/backend-owner', {
      body: { type: 'AccessRole', name: 'backend-owner', rules: [] },
      token: await owner(),
    });
    expect(asOwner.status).toBe(403);
    const asAdmin = await h.request('DELETE', '/access-roles/backend-owner', { token: await admin() });
    expect(asAdmin.body).toEqual({
      status: 409,
      title: 'Conflict',
      detail: `defined in ${join(h.opsDir, 'rbac.yaml')}`,
    });
  });
});

describe('localhost is admin', () => {
  const body = mtpDoc('local', 'backend');

  it('a token-less loopback request without proxy headers is mesh-system:admin', async () => {
    h = await startAdmin({ files: { 'rbac.yaml': WALKTHROUGH_RBAC }, localhostIsAdmin: true });
    const answer = await h.request('PUT', mtpPath('local'), { body });
    expect(answer.status).toBe(201);
    expect(h.audits.at(-1)).toMatchObject({
      user: 'mesh-system:admin',
      groups: ['mesh-system:admin', 'mesh-system:authenticated'],
    });
  });

  it('not through a proxy: X-Forwarded-For, Forwarded or X-Real-IP make it anonymous', async () => {
    h = await startAdmin({ files: { 'rbac.yaml': WALKTHROUGH_RBAC }, localhostIsAdmin: true });
    const proxied: Record<string, string>[] = [
      { 'x-forwarded-for': '203.0.113.7' },
      { forwarded: 'for=203.0.113.7' },
      { 'x-real-ip': '203.0.113.7' },
    ];
    for (const headers of proxied) {
      const answer = await h.request('PUT', mtpPath('local'), { body, headers });
      expect(answer.text).toBe(denied('mesh-system:anonymous/mesh-system:unauthenticated'));
    }
  });

  it('not with --no-admin-localhost-is-admin, and a token is always its own user', async () => {
    h = await startAdmin({ files: { 'rbac.yaml': WALKTHROUGH_RBAC }, localhostIsAdmin: false });
    expect((await h.request('PUT', mtpPath('local'), { body })).status).toBe(403);
    await h.close();
    h = await startAdmin({ files: { 'rbac.yaml': WALKTHROUGH_RBAC }, localhostIsAdmin: true });
    const answer = await h.request('PUT', mtpPath('local'), {
      body: mtpDoc('local', 'web'),
      token: await owner(),
    });
    expect(answer.text).toBe(OWNER_DENIED);
  });
});

describe('--access-type static', () => {
  it('ignores roles and bindings: only group mesh-system:admin may write', async () => {
    h = await startAdmin({ files: { 'rbac.yaml': WALKTHROUGH_RBAC }, accessType: 'static' });
    const asOwner = await h.request('PUT', mtpPath('a'), {
      body: mtpDoc('a', 'backend'),
      token: await owner(),
    });
    expect(asOwner.text).toBe(OWNER_DENIED);
    const asAdmin = await h.request('PUT', mtpPath('a'), {
      body: mtpDoc('a', 'backend'),
      token: await admin(),
    });
    expect(asAdmin.status).toBe(201);
  });
});

describe('POST /tokens/user', () => {
  it('answers a token as text/plain that the API then accepts; 24h by default', async () => {
    h = await startAdmin({ files: { 'rbac.yaml': WALKTHROUGH_RBAC } });
    const answer = await h.request('POST', '/tokens/user', {
      body: { name: 'backend-owner' },
      token: await admin(),
    });
    expect(answer.status).toBe(200);
    expect(answer.contentType).toBe('text/plain; charset=utf-8');
    const token = answer.text.trim();
    expect(answer.text).toBe(`${token}\n`);
    const verified = await verifyToken(KEY, token);
    expect(verified).toEqual({ ok: true, user: { name: 'backend-owner', groups: [] } });
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString());
    expect(payload.exp - payload.iat).toBe(24 * 3600);
    const put = await h.request('PUT', mtpPath('web-to-backend'), {
      body: mtpDoc('web-to-backend', 'backend'),
      token,
    });
    expect(put.status).toBe(201);
    expect(h.audits[0]).toMatchObject({
      user: 'root',
      verb: 'GENERATE_USER_TOKEN',
      type: 'UserToken',
      mesh: null,
      name: 'backend-owner',
      result: 'allowed',
      status: 200,
    });
  });

  it('takes groups and validFor, in JSON or YAML', async () => {
    h = await startAdmin();
    const answer = await h.request('POST', '/tokens/user', {
      body: 'name: ci\ngroups: [deployers]\nvalidFor: 15m\n',
    });
    const payload = JSON.parse(Buffer.from(answer.text.split('.')[1] ?? '', 'base64url').toString());
    expect(payload).toMatchObject({ name: 'ci', groups: ['deployers'] });
    expect(payload.exp - payload.iat).toBe(900);
  });

  it('400 for a bad request body, 403 without GENERATE_USER_TOKEN', async () => {
    h = await startAdmin({ files: { 'rbac.yaml': WALKTHROUGH_RBAC } });
    const token = await admin();
    const cases: [unknown, string][] = [
      [{}, 'name must be a non-empty string'],
      [{ name: 'x', groups: 'ops' }, 'groups must be an array of non-empty strings'],
      [
        { name: 'x', validFor: 'forever' },
        'validFor: invalid duration "forever": expected a positive duration such as 30s, 15m, 24h or 1h30m',
      ],
      [{ name: 'x', ttl: '1h' }, 'unknown field "ttl": expected name, groups or validFor'],
    ];
    for (const [body, detail] of cases) {
      const answer = await h.request('POST', '/tokens/user', { body: body as object, token });
      expect(answer.body).toEqual({ status: 400, title: 'Bad Request', detail, errors: [] });
    }
    const asOwner = await h.request('POST', '/tokens/user', {
      body: { name: 'root', groups: ['mesh-system:admin'] },
      token: await owner(),
    });
    expect(asOwner.text).toBe(OWNER_DENIED);
    expect(h.audits.at(-1)).toMatchObject({ verb: 'GENERATE_USER_TOKEN', name: 'root', result: 'denied' });
    expect(h.audits).toHaveLength(5);
  });
});

describe('audit and metrics', () => {
  it('one audit line and one count per write attempt, whatever the outcome', async () => {
    h = await startAdmin({ files: { 'rbac.yaml': WALKTHROUGH_RBAC } });
    await h.request('PUT', mtpPath('a'), { body: mtpDoc('a', 'backend'), token: await owner() });
    await h.request('PUT', mtpPath('a'), { body: mtpDoc('a', 'backend'), token: 'bad' });
    await h.request('PUT', mtpPath('b'), { body: mtpDoc('b', 'web'), token: await owner() });
    await h.request('PUT', mtpPath('c'), {
      body: '{',
      contentType: 'application/json',
      token: await owner(),
    });
    expect(h.audits.map((a) => a.result)).toEqual(['allowed', 'unauthenticated', 'denied', 'invalid']);
    expect(h.counted).toEqual([
      ['PUT', 201],
      ['PUT', 401],
      ['PUT', 403],
      ['PUT', 400],
    ]);
  });
});

describe('the built-in default binding (--admin-default-binding)', () => {
  const ANONYMOUS_DENIED = denied('mesh-system:anonymous/mesh-system:unauthenticated');

  it('authenticated (the default): a token holder may write, an unauthenticated caller may not', async () => {
    h = await startAdmin({ defaultBinding: 'authenticated' });
    const anonymous = await h.request('PUT', mtpPath('web-to-backend'), {
      body: mtpDoc('web-to-backend', 'backend'),
    });
    expect(anonymous.status).toBe(403);
    expect(anonymous.text).toBe(ANONYMOUS_DENIED);
    const token = await h.request('POST', '/tokens/user', {
      body: { name: 'root', groups: ['mesh-system:admin'] },
    });
    expect(token.text).toBe(ANONYMOUS_DENIED);
    const holder = await h.request('PUT', mtpPath('web-to-backend'), {
      body: mtpDoc('web-to-backend', 'backend'),
      token: await tokenFor('someone'),
    });
    expect(holder.status).toBe(201);
    expect((await h.request('GET', '/access-role-bindings/default')).body).toEqual({
      type: 'AccessRoleBinding',
      name: 'default',
      subjects: [{ type: 'Group', name: 'mesh-system:authenticated' }],
      roles: ['admin'],
    });
  });

  it('authenticated: the localhost admin may still write', async () => {
    h = await startAdmin({ defaultBinding: 'authenticated', localhostIsAdmin: true });
    const local = await h.request('PUT', mtpPath('web-to-backend'), {
      body: mtpDoc('web-to-backend', 'backend'),
    });
    expect(local.status).toBe(201);
  });

  it('kong-mesh: unauthenticated callers are admin too, as in Kong Mesh', async () => {
    h = await startAdmin({ defaultBinding: 'kong-mesh' });
    const anonymous = await h.request('PUT', mtpPath('web-to-backend'), {
      body: mtpDoc('web-to-backend', 'backend'),
    });
    expect(anonymous.status).toBe(201);
    expect((await h.request('GET', '/access-role-bindings/default')).body.subjects).toEqual([
      { type: 'Group', name: 'mesh-system:authenticated' },
      { type: 'Group', name: 'mesh-system:unauthenticated' },
    ]);
  });
});
