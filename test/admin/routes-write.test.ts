/**
 * Admin API writes, as the built-in default binding allows them to everyone: bodies (JSON, YAML,
 * limits, path checks, every violation), 201 / 200 / 404 / 409 / 501, the stored files,
 * read-your-writes, undo when the whole set does not load, and serialized concurrent writes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, mtpDoc, mtpPath, startAdmin } from './routes-harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const YAML_BODY = `type: MeshTrafficPermission
name: web-to-backend
mesh: default
spec:
  targetRef:
    kind: MeshService
    name: backend
  from:
    - targetRef:
        kind: MeshService
        name: web
      default:
        action: Allow
`;
const OPERATORS = `type: MeshTrafficPermission
name: from-operators
spec:
  from:
    - targetRef: {kind: Mesh}
      default: {action: Deny}
`;

const served = (harness: Harness) => harness.state.current?.set.policies.map((p) => p.name) ?? [];

describe('PUT and DELETE', () => {
  it('creates (201), replaces (200), serves before answering, and deletes (200, then 404)', async () => {
    h = await startAdmin();
    const created = await h.request('PUT', mtpPath('web-to-backend'), { body: YAML_BODY });
    expect(created.status).toBe(201);
    expect(created.body).toEqual(mtpDoc('web-to-backend', 'backend', { from: 'web' }));
    // Read-your-writes: the answer came after the new set was serving.
    expect(served(h)).toEqual(['web-to-backend']);
    const file = join(h.stateDir, 'meshtrafficpermissions/default/web-to-backend.yaml');
    expect(readFileSync(file, 'utf8')).toMatch(
      /^type: MeshTrafficPermission\nname: web-to-backend\nmesh: default\n/,
    );

    const replaced = await h.request('PUT', mtpPath('web-to-backend'), {
      body: mtpDoc('web-to-backend', 'backend', { action: 'Deny' }),
    });
    expect(replaced.status).toBe(200);
    expect(h.state.current?.set.policies[0]?.from[0]?.action).toBe('Deny');

    const deleted = await h.request('DELETE', mtpPath('web-to-backend'));
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({});
    expect(existsSync(file)).toBe(false);
    expect(served(h)).toEqual([]);
    const again = await h.request('DELETE', mtpPath('web-to-backend'));
    expect(again.status).toBe(404);
    expect(again.body).toEqual({
      status: 404,
      title: 'Not Found',
      detail: 'MeshTrafficPermission "web-to-backend" not found in mesh "default"',
    });
    expect(h.audits.map((a) => [a.verb, a.result, a.status])).toEqual([
      ['CREATE', 'allowed', 201],
      ['UPDATE', 'allowed', 200],
      ['DELETE', 'allowed', 200],
      ['DELETE', 'invalid', 404],
    ]);
  });

  it('stores roles and bindings under their own directories; a redefined built-in can be deleted back', async () => {
    h = await startAdmin();
    const binding = {
      type: 'AccessRoleBinding',
      name: 'default',
      subjects: [{ type: 'User', name: 'me' }],
      roles: ['admin'],
    };
    // The built-in exists: redefining it replaces it (200, UPDATE).
    expect((await h.request('PUT', '/access-role-bindings/default', { body: binding })).status).toBe(200);
    expect(existsSync(join(h.stateDir, 'access-role-bindings/default.yaml'))).toBe(true);
    expect((await h.request('GET', '/access-role-bindings')).body.items).toEqual([binding]);
    const role = { type: 'AccessRole', name: 'ops', rules: [{ types: ['AccessRole'], access: ['CREATE'] }] };
    expect((await h.request('PUT', '/access-roles/ops', { body: role, token: undefined })).status).toBe(403);
    expect(h.audits.at(-1)).toMatchObject({
      verb: 'CREATE',
      type: 'AccessRole',
      result: 'denied',
      mesh: null,
    });
  });

  it('a built-in cannot be deleted: 409', async () => {
    h = await startAdmin();
    const answer = await h.request('DELETE', '/access-roles/admin');
    expect(answer.text).toBe('{"status":409,"title":"Conflict","detail":"defined in (built-in)"}\n');
  });

  it('a resource from an operator file is read-only: 409 naming the file', async () => {
    h = await startAdmin({ files: { 'ops.yaml': OPERATORS } });
    const file = join(h.opsDir, 'ops.yaml');
    for (const method of ['PUT', 'DELETE']) {
      const answer = await h.request(method, mtpPath('from-operators'), {
        ...(method === 'PUT' ? { body: mtpDoc('from-operators', 'web') } : {}),
      });
      expect(answer.status).toBe(409);
      expect(answer.text).toBe(`{"status":409,"title":"Conflict","detail":"defined in ${file}"}\n`);
    }
    expect(h.audits.map((a) => [a.verb, a.result])).toEqual([
      ['UPDATE', 'conflict'],
      ['DELETE', 'conflict'],
    ]);
  });
});

describe('bodies', () => {
  it('accepts JSON and every YAML media type, with or without a charset', async () => {
    h = await startAdmin();
    const types = ['application/json', 'application/yaml', 'application/x-yaml', 'text/yaml; charset=utf-8'];
    for (const [i, contentType] of types.entries()) {
      const name = `p${i}`;
      const body =
        contentType === 'application/json'
          ? JSON.stringify(mtpDoc(name, 'a'))
          : YAML_BODY.replace('web-to-backend', name);
      const answer = await h.request('PUT', mtpPath(name), { body, contentType });
      expect(answer.status, contentType).toBe(201);
    }
  });

  it('keeps tag keys such as __proto__ and constructor, in JSON and YAML bodies', async () => {
    h = await startAdmin();
    const tags = '{"__proto__": "x", "constructor": "y"}';
    const json = `{"type": "MeshTrafficPermission", "name": "odd", "mesh": "default", "spec": {"from": [{"targetRef": {"kind": "MeshSubset", "tags": ${tags}}, "default": {"action": "Allow"}}]}}`;
    const put = await h.request('PUT', mtpPath('odd'), { body: json, contentType: 'application/json' });
    expect(put.status).toBe(201);
    const yaml = YAML_BODY.replace('web-to-backend', 'odd-yaml').replace(
      'kind: MeshService\n        name: web',
      `kind: MeshSubset\n        tags: ${tags}`,
    );
    expect((await h.request('PUT', mtpPath('odd-yaml'), { body: yaml })).status).toBe(201);
    for (const name of ['odd', 'odd-yaml']) {
      const policy = h.state.current?.set.policies.find((p) => p.name === name);
      expect(Object.entries(policy?.from[0]?.targetRef.tags ?? {})).toEqual([
        ['__proto__', 'x'],
        ['constructor', 'y'],
      ]);
      const read = await h.request('GET', mtpPath(name));
      expect(Object.entries(read.body.spec.from[0].targetRef.tags)).toEqual([
        ['__proto__', 'x'],
        ['constructor', 'y'],
      ]);
    }
  });

  it('415 for another or a missing media type', async () => {
    h = await startAdmin();
    const plain = await h.request('PUT', mtpPath('x'), { body: YAML_BODY, contentType: 'text/plain' });
    expect(plain.status).toBe(415);
    expect(plain.body).toEqual({
      status: 415,
      title: 'Unsupported Media Type',
      detail: 'Content-Type "text/plain" is not supported: send application/json or application/yaml (UTF-8)',
    });
    const latin = await h.request('PUT', mtpPath('x'), {
      body: '{}',
      contentType: 'application/json; charset=latin1',
    });
    expect(latin.status).toBe(415);
    const none = await h.request('PUT', mtpPath('x'), { body: '{}', contentType: null });
    expect(none.status).toBe(415);
    expect(h.audits.map((a) => a.result)).toEqual(['invalid', 'invalid', 'invalid']);
  });

  it('400 for JSON or YAML that does not parse, and for several documents', async () => {
    h = await startAdmin();
    const json = await h.request('PUT', mtpPath('x'), { body: '{"type": ', contentType: 'application/json' });
    expect(json.status).toBe(400);
    expect(json.body.detail).toMatch(/^request body is not valid JSON: /);
    expect(json.body.errors).toEqual([]);
    const yaml = await h.request('PUT', mtpPath('x'), { body: 'type: [unclosed\nname: x\n' });
    expect(yaml.status).toBe(400);
    expect(yaml.body.detail).toBe('request body is not valid YAML');
    expect(yaml.body.errors.length).toBeGreaterThan(0);
    expect(yaml.body.errors[0]).toMatch(/^body:\d+:\d+: /);
    const two = await h.request('PUT', mtpPath('web-to-backend'), { body: `${YAML_BODY}---\n${YAML_BODY}` });
    expect(two.body).toEqual({
      status: 400,
      title: 'Bad Request',
      detail: 'request body must hold one document, found 2',
      errors: [],
    });
    const empty = await h.request('PUT', mtpPath('x'), { body: '' });
    expect(empty.status).toBe(400);
    const list = await h.request('PUT', mtpPath('x'), { body: [1, 2] });
    expect(list.body.detail).toBe('request body must be an object: one resource in the Universal form');
  });

  it('400 when type, name or mesh differ from the path (a missing mesh is default)', async () => {
    h = await startAdmin();
    const cases: [string, object, string][] = [
      [
        mtpPath('a'),
        { ...mtpDoc('a', 'b'), type: 'AccessRole' },
        'type "AccessRole" in the body does not match "MeshTrafficPermission" in the path',
      ],
      [mtpPath('a'), mtpDoc('b', 'b'), 'name "b" in the body does not match "a" in the path'],
      [
        mtpPath('a'),
        { ...mtpDoc('a', 'b'), name: undefined },
        'name null in the body does not match "a" in the path',
      ],
      [
        mtpPath('a', 'other'),
        mtpDoc('a', 'b'),
        'mesh "default" in the body does not match "other" in the path',
      ],
      [
        mtpPath('a', 'other'),
        { ...mtpDoc('a', 'b'), mesh: undefined },
        'mesh null in the body does not match "other" in the path',
      ],
      [
        '/access-roles/r',
        { type: 'AccessRole', name: 'r', mesh: 'default', rules: [] },
        'mesh "default" in the body: AccessRole is global, not bound to a mesh',
      ],
      [
        mtpPath('a'),
        { apiVersion: 'kuma.io/v1alpha1', kind: 'MeshTrafficPermission', metadata: { name: 'a' }, spec: {} },
        'request body must be in the Universal form (type, name, mesh), not the Kubernetes form',
      ],
    ];
    for (const [path, body, detail] of cases) {
      const answer = await h.request('PUT', path, { body });
      expect(answer.body, detail).toEqual({ status: 400, title: 'Bad Request', detail, errors: [] });
    }
    const noMesh = await h.request('PUT', mtpPath('a'), { body: { ...mtpDoc('a', 'b'), mesh: undefined } });
    expect(noMesh.status).toBe(201);
    expect(readFileSync(join(h.stateDir, 'meshtrafficpermissions/default/a.yaml'), 'utf8')).toContain(
      'mesh: default\n',
    );
  });

  it('400 with every violation, each FILE:LINE:COL: FIELD_PATH: MESSAGE, and nothing stored', async () => {
    h = await startAdmin();
    const body = `type: MeshTrafficPermission
name: broken
mesh: default
spec:
  targetRef:
    kind: MeshService
  from:
    - targetRef:
        kind: MeshGateway
      default:
        action: Allow
    - targetRef:
        kind: MeshSubset
        name: web
        tags: {"": x}
      default: {}
`;
    const answer = await h.request('PUT', mtpPath('broken'), { body });
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({
      status: 400,
      title: 'Bad Request',
      detail: 'the resource is not valid: 5 violations',
      errors: [
        'body:6:5: spec.targetRef.name: must be set with kind MeshService',
        'body:9:15: spec.from[0].targetRef.kind: value is not supported',
        'body:14:9: spec.from[1].targetRef.name: must not be set with kind MeshSubset',
        'body:15:16: spec.from[1].targetRef.tags: tag name must be non-empty',
        'body:16:16: spec.from[1].default.action: must be defined',
      ],
    });
    expect(existsSync(join(h.stateDir, 'meshtrafficpermissions/default/broken.yaml'))).toBe(false);
    expect(h.audits).toMatchObject([{ verb: 'CREATE', result: 'invalid', status: 400 }]);
  });

  it('413 for a body over 1 MiB', async () => {
    h = await startAdmin();
    const big = `${YAML_BODY}# ${'x'.repeat(1024 * 1024)}\n`;
    const answer = await h.request('PUT', mtpPath('web-to-backend'), { body: big });
    expect(answer.status).toBe(413);
    expect(answer.body).toEqual({
      status: 413,
      title: 'Payload Too Large',
      detail: 'request body is larger than 1048576 bytes',
    });
  });
});

describe('writes disabled', () => {
  it('501 without --admin-state-dir, and for tokens without --token-signing-key', async () => {
    h = await startAdmin({ store: false, key: null });
    for (const method of ['PUT', 'DELETE']) {
      const answer = await h.request(method, mtpPath('x'), { body: mtpDoc('x', 'y') });
      expect(answer.text).toBe(
        '{"status":501,"title":"Not Implemented","detail":"admin writes are disabled: start with --admin-state-dir"}\n',
      );
    }
    const token = await h.request('POST', '/tokens/user', { body: { name: 'x' } });
    expect(token.body).toEqual({
      status: 501,
      title: 'Not Implemented',
      detail: 'user tokens are disabled: start with --token-signing-key',
    });
    expect(h.audits.map((a) => [a.verb, a.status])).toEqual([
      ['CREATE', 501],
      ['DELETE', 501],
      ['GENERATE_USER_TOKEN', 501],
    ]);
  });
});

describe('a write the whole policy set does not load with', () => {
  it('is undone and answered 400 with the violations (a duplicate name in an operator file)', async () => {
    h = await startAdmin();
    // Written after the last load: the serving set does not know it yet.
    h.writeOpsFile('late.yaml', YAML_BODY);
    const answer = await h.request('PUT', mtpPath('web-to-backend'), { body: mtpDoc('web-to-backend', 'x') });
    expect(answer.status).toBe(400);
    expect(answer.body.detail).toBe(
      'the policies do not load with this change (1 violation); CREATE MeshTrafficPermission "web-to-backend" in mesh "default" was undone',
    );
    expect(answer.body.errors).toHaveLength(1);
    expect(answer.body.errors[0]).toMatch(
      /: name: duplicate MeshTrafficPermission "web-to-backend" in mesh "default"/,
    );
    expect(existsSync(join(h.stateDir, 'meshtrafficpermissions/default/web-to-backend.yaml'))).toBe(false);
    expect(h.audits.at(-1)).toMatchObject({ verb: 'CREATE', result: 'invalid', status: 400 });
  });

  it('a replaced file is put back as it was', async () => {
    h = await startAdmin();
    expect((await h.request('PUT', mtpPath('keep'), { body: mtpDoc('keep', 'a') })).status).toBe(201);
    const file = join(h.stateDir, 'meshtrafficpermissions/default/keep.yaml');
    const before = readFileSync(file, 'utf8');
    h.writeOpsFile('broken.yaml', 'type: MeshTrafficPermission\nname: broken\nspec: {from: []}\n');
    const answer = await h.request('PUT', mtpPath('keep'), { body: mtpDoc('keep', 'b') });
    expect(answer.status).toBe(400);
    expect(answer.body.errors).toEqual([
      `${join(h.opsDir, 'broken.yaml')}:3:14: spec.from: needs at least one item`,
    ]);
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect(h.state.current?.set.policies[0]?.targetRef).toEqual({ kind: 'MeshService', name: 'a' });
  });
});

describe('concurrent writes to one resource', () => {
  it('run one after another: each is served and answered in turn; the last one stays', async () => {
    h = await startAdmin();
    const n = 6;
    const answers = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        h?.request('PUT', mtpPath('contended'), {
          body: mtpDoc('contended', 'backend', { labels: { writer: `${i}` } }),
        }),
      ),
    );
    expect(answers.map((a) => a?.status).sort()).toEqual([200, 200, 200, 200, 200, 201]);
    // Each answer shows its own write: no other write got in between it and its reload.
    answers.forEach((a, i) => {
      expect(a?.body.labels).toEqual({ writer: `${i}` });
    });
    // Every write was served once, in the order they were applied; the last one stays.
    const order = h.snapshots.map((s) => s.set.policies[0]?.labels.writer);
    expect(new Set(order).size).toBe(n);
    const final = await h.request('GET', mtpPath('contended'));
    expect(final.body.labels.writer).toBe(order.at(-1));
    expect(h.audits.map((a) => a.verb).sort()).toEqual([
      'CREATE',
      'UPDATE',
      'UPDATE',
      'UPDATE',
      'UPDATE',
      'UPDATE',
    ]);
  });
});

describe('spec.rules policies', () => {
  it('are stored, served and read back with their rules and Dataplane target', async () => {
    h = await startAdmin();
    const body = `type: MeshTrafficPermission
name: rules-backend
mesh: default
spec:
  targetRef: {kind: Dataplane, labels: {app: backend}, sectionName: http}
  rules:
    - default:
        deny:
          - spiffeID: {type: Exact, value: spiffe://default/orders}
        allow:
          - spiffeID: {type: Prefix, value: spiffe://default}
            sni: {type: Exact, value: backend.mesh}
`;
    const created = await h.request('PUT', mtpPath('rules-backend'), { body });
    expect(created.status).toBe(201);
    const expected = {
      type: 'MeshTrafficPermission',
      mesh: 'default',
      name: 'rules-backend',
      spec: {
        targetRef: { kind: 'Dataplane', labels: { app: 'backend' }, sectionName: 'http' },
        rules: [
          {
            default: {
              deny: [{ spiffeID: { type: 'Exact', value: 'spiffe://default/orders' } }],
              allow: [
                {
                  spiffeID: { type: 'Prefix', value: 'spiffe://default' },
                  sni: { type: 'Exact', value: 'backend.mesh' },
                },
              ],
            },
          },
        ],
      },
    };
    expect(created.body).toEqual(expected);
    expect((await h.request('GET', mtpPath('rules-backend'))).body).toEqual(expected);
    expect(h.state.current?.set.policies[0]?.rules?.[0]?.deny).toHaveLength(1);
  });

  it('are refused with every violation, like a file', async () => {
    h = await startAdmin();
    const body = `type: MeshTrafficPermission
name: bad-rules
mesh: default
spec:
  from:
    - targetRef: {kind: Mesh}
      default: {action: Allow}
  rules:
    - default:
        allow:
          - spiffeID: {type: Exact, value: default/orders}
`;
    const refused = await h.request('PUT', mtpPath('bad-rules'), { body });
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.body)).toContain("field 'from' must be empty when 'rules' is defined");
    expect(JSON.stringify(refused.body)).toContain(
      'spec.rules[0].allow[0].spiffeID: must be a valid Spiffe ID: scheme is missing or invalid',
    );
  });
});
