import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  issueToken,
  loadSigningKey,
  parseDuration,
  type SigningKey,
  SigningKeyError,
  tokenVerifier,
  verifyToken,
} from '../../src/admin/tokens.js';

const dir = mkdtempSync(join(tmpdir(), 'mtp-authz-tokens-'));
function keyFile(name: string, content: string | Buffer): string {
  const file = join(dir, name);
  writeFileSync(file, content);
  return file;
}

const edPair = () => generateKeyPairSync('ed25519');
const pem = (pair: ReturnType<typeof edPair>) => pair.privateKey.export({ type: 'pkcs8', format: 'pem' });
const SECRET = 'a-shared-secret-of-at-least-32-bytes!!';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const decode = (part: string | undefined) => JSON.parse(Buffer.from(part ?? '', 'base64url').toString());

let ed: SigningKey;
let edPublicPem: string;
let hs: SigningKey;
beforeAll(async () => {
  const pair = edPair();
  edPublicPem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  ed = await loadSigningKey(keyFile('ed.pem', pem(pair)));
  hs = await loadSigningKey(keyFile('secret', `${SECRET}\n`));
});

describe('loadSigningKey', () => {
  it('reads a PEM Ed25519 private key as EdDSA and anything else as an HS256 secret', () => {
    expect(ed.alg).toBe('EdDSA');
    expect(hs.alg).toBe('HS256');
    if (hs.alg === 'HS256') expect(Buffer.from(hs.secret).toString()).toBe(SECRET);
  });
  it('trims only trailing whitespace from a secret', async () => {
    const key = await loadSigningKey(keyFile('spaced', ` ${SECRET} \r\n\t `));
    if (key.alg !== 'HS256') throw new Error('expected HS256');
    expect(Buffer.from(key.secret).toString()).toBe(` ${SECRET}`);
  });
  it('refuses a secret shorter than 32 bytes, with the exact message', async () => {
    const file = keyFile('short', `${'x'.repeat(31)}\n\n`);
    await expect(loadSigningKey(file)).rejects.toThrow(
      new SigningKeyError(
        `token signing key ${file}: an HS256 secret must be at least 32 bytes, found 31 (trailing whitespace trimmed); or use a PEM Ed25519 private key`,
      ),
    );
    await expect(loadSigningKey(keyFile('exact', 'x'.repeat(32)))).resolves.toMatchObject({ alg: 'HS256' });
  });
  it('refuses an empty file', async () => {
    const file = keyFile('empty', '\n');
    await expect(loadSigningKey(file)).rejects.toThrow(/found 0/);
  });
  it('refuses a PEM that is not an Ed25519 private key instead of using it as a secret', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rsaFile = keyFile('rsa.pem', rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await expect(loadSigningKey(rsaFile)).rejects.toThrow(
      `token signing key ${rsaFile}: a PEM key must be an Ed25519 private key, not rsa`,
    );
    const pubFile = keyFile('pub.pem', edPublicPem);
    await expect(loadSigningKey(pubFile)).rejects.toThrow(
      `token signing key ${pubFile}: not a PEM private key (an Ed25519 one is expected)`,
    );
  });
  it('names a missing file', async () => {
    await expect(loadSigningKey(join(dir, 'nope'))).rejects.toThrow(
      /^token signing key .*nope: cannot read: ENOENT/,
    );
  });
});

describe('issue and verify', () => {
  it.each(['EdDSA', 'HS256'])('round trip with %s', async (alg) => {
    const key = alg === 'EdDSA' ? ed : hs;
    const token = await issueToken(key, { name: 'john', groups: ['team-a', 'team-b'], validForSeconds: 60 });
    const [header, payload] = token.split('.');
    expect(decode(header)).toEqual({ alg, typ: 'JWT' });
    const claims = decode(payload);
    expect(Object.keys(claims).sort()).toEqual(['exp', 'groups', 'iat', 'jti', 'name']);
    expect(claims.jti).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(claims.exp - claims.iat).toBe(60);
    expect(await verifyToken(key, token)).toEqual({
      ok: true,
      user: { name: 'john', groups: ['team-a', 'team-b'] },
    });
    expect(await tokenVerifier(key)(token)).toEqual({
      ok: true,
      user: { name: 'john', groups: ['team-a', 'team-b'] },
    });
  });

  it('rejects an expired token, with no leeway', async () => {
    const issuedAt = Date.UTC(2020, 0, 1);
    const token = await issueToken(hs, { name: 'john', groups: [], validForSeconds: 60 }, issuedAt);
    expect((await verifyToken(hs, token, new Date(issuedAt + 59_000))).ok).toBe(true);
    expect(await verifyToken(hs, token, new Date(issuedAt + 60_000))).toMatchObject({ ok: false });
    expect(await verifyToken(hs, token)).toMatchObject({ ok: false, reason: expect.stringMatching(/exp/) });
  });

  it('rejects a token signed with another key', async () => {
    const otherEd = await loadSigningKey(keyFile('other.pem', pem(edPair())));
    const otherHs = await loadSigningKey(keyFile('other-secret', 'another-secret-of-at-least-32-bytes'));
    expect(
      (await verifyToken(ed, await issueToken(otherEd, { name: 'x', groups: [], validForSeconds: 60 }))).ok,
    ).toBe(false);
    expect(
      (await verifyToken(hs, await issueToken(otherHs, { name: 'x', groups: [], validForSeconds: 60 }))).ok,
    ).toBe(false);
  });

  it('rejects alg: none', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ name: 'admin', groups: ['mesh-system:admin'], iat: now, exp: now + 60 })}.`;
    for (const key of [ed, hs]) expect((await verifyToken(key, token)).ok).toBe(false);
  });

  it('rejects tampered groups (payload edited, signature kept)', async () => {
    for (const key of [ed, hs]) {
      const token = await issueToken(key, { name: 'john', groups: ['team-a'], validForSeconds: 60 });
      const [header, payload, signature] = token.split('.');
      const forged = `${header}.${b64({ ...decode(payload), groups: ['mesh-system:admin'] })}.${signature}`;
      expect((await verifyToken(key, forged)).ok).toBe(false);
    }
  });

  it('rejects an HS256 token against an EdDSA key (algorithm confusion)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const confused = await new SignJWT({ name: 'admin', groups: ['mesh-system:admin'] })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(Buffer.from(edPublicPem));
    expect((await verifyToken(ed, confused)).ok).toBe(false);
  });

  it('rejects an EdDSA token against an HS256 key', async () => {
    const token = await issueToken(ed, { name: 'john', groups: [], validForSeconds: 60 });
    expect((await verifyToken(hs, token)).ok).toBe(false);
  });

  it.each([
    { name: 'no name', claims: { groups: [] } },
    { name: 'an empty name', claims: { name: '', groups: [] } },
    { name: 'a numeric name', claims: { name: 7, groups: [] } },
    { name: 'no groups', claims: { name: 'john' } },
    { name: 'groups as a string', claims: { name: 'john', groups: 'mesh-system:admin' } },
    { name: 'a non-string group', claims: { name: 'john', groups: ['a', 1] } },
  ])('rejects a correctly signed token with $name', async ({ claims }) => {
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(Buffer.from(SECRET));
    expect((await verifyToken(hs, token)).ok).toBe(false);
  });

  it('rejects a correctly signed token without exp', async () => {
    const token = await new SignJWT({ name: 'john', groups: [] })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt()
      .sign(Buffer.from(SECRET));
    expect((await verifyToken(hs, token)).ok).toBe(false);
  });

  it('rejects garbage', async () => {
    for (const token of ['', 'abc', 'a.b.c', '...']) expect((await verifyToken(hs, token)).ok).toBe(false);
  });

  it('refuses to issue a token without a name or validity', async () => {
    await expect(issueToken(hs, { name: '', groups: [], validForSeconds: 60 })).rejects.toThrow(
      'non-empty name',
    );
    await expect(issueToken(hs, { name: 'x', groups: [], validForSeconds: 0 })).rejects.toThrow('positive');
  });
});

describe('parseDuration', () => {
  it.each([
    ['30s', 30],
    ['15m', 900],
    ['24h', 86_400],
    ['1h30m', 5_400],
    ['1h0m5s', 3_605],
    ['90m', 5_400],
  ])('%s = %i seconds', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });
  it.each([
    '',
    '0s',
    '0h0m',
    '24',
    'h',
    '1d',
    '1.5h',
    '-1h',
    '30m1h',
    ' 24h',
    '24H',
    '99999999999999999999h',
  ])('refuses %j', (text) => {
    expect(() => parseDuration(text)).toThrow(
      `invalid duration "${text}": expected a positive duration such as 30s, 15m, 24h or 1h30m`,
    );
  });
});
