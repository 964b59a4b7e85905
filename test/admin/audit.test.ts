import { describe, expect, it } from 'vitest';
import { auditResult, createAuditLog } from '../../src/admin/audit.js';

const TIME = new Date('2026-01-02T03:04:05.678Z');

function capture() {
  const lines: string[] = [];
  const audit = createAuditLog(
    (line) => lines.push(line),
    () => TIME,
  );
  return { lines, audit };
}

describe('audit lines', () => {
  it('writes one JSON line with every key in order', () => {
    const { lines, audit } = capture();
    audit({
      user: { name: 'john', groups: ['team-a', 'mesh-system:authenticated'] },
      verb: 'UPDATE',
      type: 'MeshTrafficPermission',
      mesh: 'default',
      name: 'web-to-backend',
      status: 200,
    });
    expect(lines).toEqual([
      '{"audit":true,"time":"2026-01-02T03:04:05.678Z","user":"john","groups":["team-a","mesh-system:authenticated"],"verb":"UPDATE","type":"MeshTrafficPermission","mesh":"default","name":"web-to-backend","result":"allowed","status":200}\n',
    ]);
  });

  it('global resources carry mesh null; a failed authentication user null and no groups', () => {
    const { lines, audit } = capture();
    audit({ user: undefined, verb: 'DELETE', type: 'AccessRole', name: 'r', status: 401 });
    expect(JSON.parse(lines[0] ?? '')).toEqual({
      audit: true,
      time: '2026-01-02T03:04:05.678Z',
      user: null,
      groups: [],
      verb: 'DELETE',
      type: 'AccessRole',
      mesh: null,
      name: 'r',
      result: 'unauthenticated',
      status: 401,
    });
  });

  it('an explicit result wins over the status', () => {
    const { audit } = capture();
    const line = audit({ user: undefined, verb: 'CREATE', type: 'X', status: 500, result: 'invalid' });
    expect(line.result).toBe('invalid');
  });

  it.each([
    [200, 'allowed'],
    [201, 'allowed'],
    [400, 'invalid'],
    [401, 'unauthenticated'],
    [403, 'denied'],
    [404, 'invalid'],
    [409, 'conflict'],
    [413, 'invalid'],
    [415, 'invalid'],
    [500, 'allowed'],
    [501, 'invalid'],
  ] as const)('status %i → %s', (status, result) => {
    expect(auditResult(status)).toBe(result);
  });
});
