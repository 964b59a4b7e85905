/** Database errors as a user reads them: one short reason, and whether the database is out of reach. */
import { describe, expect, it } from 'vitest';
import { isUnreachable, reasonOf } from '../../src/store/errors.js';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('reasonOf', () => {
  it('is the message on one line, or the code when the message is empty', () => {
    expect(reasonOf(new Error('password authentication failed\nfor user "app"'))).toBe(
      'password authentication failed for user "app"',
    );
    expect(reasonOf(withCode('', 'ECONNREFUSED'))).toBe('ECONNREFUSED');
  });

  it('reads the first error of an AggregateError (every address of a host refused)', () => {
    const refused = new AggregateError([withCode('connect ECONNREFUSED ::1:5432', 'ECONNREFUSED')], '');
    expect(reasonOf(refused)).toBe('connect ECONNREFUSED ::1:5432');
    expect(isUnreachable(refused)).toBe(true);
  });

  it('is cut at 200 characters', () => {
    expect(reasonOf(new Error('x'.repeat(500)))).toBe(`${'x'.repeat(200)}…`);
  });
});

describe('isUnreachable', () => {
  it.each([
    ['08006', true],
    ['57P01', true],
    ['57014', true],
    ['53300', true],
    ['ECONNRESET', true],
    ['23505', false],
    ['42P01', false],
  ])('%s → %s', (code, expected) => {
    expect(isUnreachable(withCode('m', code))).toBe(expected);
  });

  it('counts pg’s own connection errors, not other faults', () => {
    expect(isUnreachable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isUnreachable(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(isUnreachable(new Error('mtp_authz_meta has no store_version row'))).toBe(false);
  });
});
