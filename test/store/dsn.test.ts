/** `--store` URLs and the password file: what is read, and every refusal with its exact text. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clientConfig, parseStoreUrl, readPasswordFile, StoreUrlError } from '../../src/store/dsn.js';

const FORM = 'postgres://USER:PASSWORD@HOST:PORT/DATABASE';

describe('parseStoreUrl', () => {
  it('reads user, password, host, port, database and sslmode; the redacted form has no password', () => {
    expect(parseStoreUrl('postgresql://app:p%40ss@db.internal:6432/policies?sslmode=verify-full')).toEqual({
      host: 'db.internal',
      port: 6432,
      database: 'policies',
      user: 'app',
      password: 'p@ss',
      sslMode: 'verify-full',
      sslRootCert: undefined,
      redacted: 'postgresql://app@db.internal:6432/policies?sslmode=verify-full',
    });
  });

  it('defaults to port 5432, no TLS, and no password (the password file gives it)', () => {
    expect(parseStoreUrl('postgres://app@db/policies')).toMatchObject({
      port: 5432,
      sslMode: 'disable',
      password: undefined,
      redacted: 'postgres://app@db:5432/policies',
    });
  });

  it('reads an IPv6 host', () => {
    expect(parseStoreUrl('postgres://app@[::1]:5433/p')).toMatchObject({
      host: '::1',
      redacted: 'postgres://app@[::1]:5433/p',
    });
  });

  it.each([
    ['', `not a URL of the form ${FORM}`],
    ['db.internal:5432', 'scheme "db.internal:" is not postgres:// or postgresql://'],
    ['mysql://app@db/p', 'scheme "mysql:" is not postgres:// or postgresql://'],
    ['postgres:///p', `no host: expected ${FORM}`],
    ['postgres://db/p', `no user: expected ${FORM}`],
    ['postgres://app@db', `no database: expected ${FORM}`],
    ['postgres://app@db/', `no database: expected ${FORM}`],
    ['postgres://app@db/a/b', `no database: expected ${FORM}`],
    ['postgres://app@db/p#x', 'a fragment (#…) has no meaning here'],
    ['postgres://app@db/p?sslmode=allow', 'sslmode must be one of disable, require, verify-ca, verify-full'],
    [
      'postgres://app@db/p?connect_timeout=5',
      'unknown parameter "connect_timeout" (sslmode and sslrootcert are read)',
    ],
    ['postgres://app@db/p?sslrootcert=', 'sslrootcert names no file'],
    ['postgres://app:%zz@db/p', 'the password is not valid percent-encoding'],
  ])('refuses %j: %s', (url, message) => {
    expect(() => parseStoreUrl(url)).toThrow(new StoreUrlError(message));
  });

  it('never repeats a password in a refusal', () => {
    for (const url of [
      'mysql://u:hunter2@h/p',
      'postgres://u:hunter2@h/p?sslmode=x',
      'postgres://u:hunter2@h',
    ]) {
      expect(() => parseStoreUrl(url)).toThrow(StoreUrlError);
      try {
        parseStoreUrl(url);
      } catch (error) {
        expect((error as Error).message).not.toContain('hunter2');
      }
    }
  });
});

describe('the password file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mtp-store-dsn-'));

  it('replaces the URL password, one trailing newline trimmed', () => {
    const file = join(dir, 'password');
    writeFileSync(file, ' s3cret \n');
    expect(clientConfig(parseStoreUrl('postgres://app:old@db/p'), file).password).toBe(' s3cret ');
    expect(clientConfig(parseStoreUrl('postgres://app:old@db/p'), undefined).password).toBe('old');
  });

  it('refuses a missing or empty file, naming it', () => {
    const missing = join(dir, 'missing');
    expect(() => readPasswordFile(missing)).toThrow(
      `--store-password-file ${missing}: cannot be read (ENOENT)`,
    );
    const empty = join(dir, 'empty');
    writeFileSync(empty, '\n');
    expect(() => readPasswordFile(empty)).toThrow(`--store-password-file ${empty}: is empty`);
  });
});

describe('sslmode', () => {
  const ssl = (query: string) => clientConfig(parseStoreUrl(`postgres://app@db/p${query}`), undefined).ssl;

  it('maps each mode to the TLS checks it names', () => {
    expect(ssl('')).toBe(false);
    expect(ssl('?sslmode=disable')).toBe(false);
    expect(ssl('?sslmode=require')).toEqual({ rejectUnauthorized: false });
    expect(ssl('?sslmode=verify-full')).toEqual({ rejectUnauthorized: true });
    const verifyCa = ssl('?sslmode=verify-ca') as {
      rejectUnauthorized: boolean;
      checkServerIdentity: () => unknown;
    };
    expect(verifyCa.rejectUnauthorized).toBe(true);
    expect(verifyCa.checkServerIdentity()).toBeUndefined();
  });

  it('reads the sslrootcert file as the CA, and names it when it cannot', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtp-store-ca-'));
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\n');
    expect(ssl(`?sslmode=verify-full&sslrootcert=${ca}`)).toEqual({
      rejectUnauthorized: true,
      ca: '-----BEGIN CERTIFICATE-----\n',
    });
    expect(() => ssl(`?sslmode=verify-full&sslrootcert=${ca}.missing`)).toThrow(
      `--store sslrootcert ${ca}.missing: cannot be read (ENOENT)`,
    );
  });
});
