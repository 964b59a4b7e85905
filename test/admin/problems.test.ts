import { describe, expect, it } from 'vitest';
import {
  accessDenied,
  badRequest,
  conflict,
  invalidResource,
  notFound,
  pathMismatch,
  tokensDisabled,
  unauthenticated,
  writesDisabled,
} from '../../src/admin/problems.js';

const json = (value: unknown) => JSON.stringify(value);

describe('problem bodies', () => {
  it('401', () => {
    expect(json(unauthenticated())).toBe(
      '{"status":401,"title":"Unauthenticated","detail":"Invalid authentication data"}',
    );
  });
  it('403', () => {
    expect(json(accessDenied({ name: 'backend-owner', groups: ['mesh-system:authenticated'] }))).toBe(
      '{"status":403,"title":"Access Denied","detail":"user \\"backend-owner/mesh-system:authenticated\\" cannot access the resource"}',
    );
  });
  it('409', () => {
    expect(json(conflict('/etc/policies/mtp.yaml'))).toBe(
      '{"status":409,"title":"Conflict","detail":"defined in /etc/policies/mtp.yaml"}',
    );
  });
  it('501', () => {
    expect(json(writesDisabled())).toBe(
      '{"status":501,"title":"Not Implemented","detail":"admin writes are disabled: start with --admin-state-dir"}',
    );
    expect(json(tokensDisabled())).toBe(
      '{"status":501,"title":"Not Implemented","detail":"user tokens are disabled: start with --token-signing-key"}',
    );
  });
  it('404', () => {
    expect(notFound('MeshTrafficPermission', 'p', 'default')).toEqual({
      status: 404,
      title: 'Not Found',
      detail: 'MeshTrafficPermission "p" not found in mesh "default"',
    });
    expect(notFound('AccessRole', 'r').detail).toBe('AccessRole "r" not found');
  });
  it('400 carries every violation in the policy-error format', () => {
    const issue = (line: number, path: string, message: string) => ({
      file: 'body',
      line,
      col: 5,
      path,
      message,
    });
    expect(
      json(
        invalidResource([
          issue(6, 'spec.from[0].default.action', 'must be defined'),
          issue(9, 'spec.from[1].targetRef', 'in body is required'),
        ]),
      ),
    ).toBe(
      '{"status":400,"title":"Bad Request","detail":"the resource is not valid: 2 violations","errors":["body:6:5: spec.from[0].default.action: must be defined","body:9:5: spec.from[1].targetRef: in body is required"]}',
    );
    expect(invalidResource([issue(1, 'name', 'cannot be empty')]).detail).toBe(
      'the resource is not valid: 1 violation',
    );
  });
  it('400 for request-level problems has an empty errors list', () => {
    expect(badRequest('body is not valid JSON')).toEqual({
      status: 400,
      title: 'Bad Request',
      detail: 'body is not valid JSON',
      errors: [],
    });
    expect(pathMismatch('name', 'a', 'b').detail).toBe('name "a" in the body does not match "b" in the path');
    expect(pathMismatch('mesh', undefined, 'default').detail).toBe(
      'mesh null in the body does not match "default" in the path',
    );
  });
});
