import { describe, expect, it } from 'vitest';
import { issueToken, signingKeyFromBytes, tokenVerifier } from '../../src/admin/tokens.js';
import {
  ANONYMOUS,
  type AuthenticationRequest,
  authenticate,
  isLoopbackAddress,
  isLoopbackHost,
  LOCALHOST_ADMIN,
} from '../../src/admin/users.js';

const key = signingKeyFromBytes('secret', Buffer.from('a-shared-secret-of-at-least-32-bytes!!'));
const verifier = tokenVerifier(key);
const options = { verifier, localhostIsAdmin: true };
const local = (
  headers: AuthenticationRequest['headers'] = { host: 'localhost:9192' },
  remoteAddress = '127.0.0.1',
) => ({
  remoteAddress,
  headers,
});
const token = (name = 'john', groups = ['team-a']) => issueToken(key, { name, groups, validForSeconds: 60 });

describe('localhost is admin', () => {
  it.each([
    { name: 'localhost with a port', req: local() },
    { name: '127.0.0.1 without a port', req: local({ host: '127.0.0.1' }) },
    { name: 'any 127/8 address and Host', req: local({ host: '127.1.2.3:80' }, '127.9.9.9') },
    { name: 'IPv6 loopback', req: local({ host: '[::1]:9192' }, '::1') },
    { name: 'IPv4-mapped loopback', req: local({ host: 'localhost' }, '::ffff:127.0.0.1') },
    { name: 'a loopback Origin', req: local({ host: 'localhost:9192', origin: 'http://localhost:3000' }) },
    { name: 'HTTP/2 :authority', req: local({ ':authority': 'localhost:9192' }) },
    { name: 'Host in upper case', req: local({ host: 'LOCALHOST:9192' }) },
  ])('$name', async ({ req }) => {
    expect(await authenticate(req, options)).toEqual({ ok: true, user: LOCALHOST_ADMIN });
    expect(LOCALHOST_ADMIN).toEqual({
      name: 'mesh-system:admin',
      groups: ['mesh-system:admin', 'mesh-system:authenticated'],
    });
  });

  it.each([
    { name: 'X-Forwarded-For', req: local({ host: 'localhost', 'x-forwarded-for': '203.0.113.7' }) },
    { name: 'an empty X-Forwarded-For', req: local({ host: 'localhost', 'x-forwarded-for': '' }) },
    { name: 'Forwarded', req: local({ host: 'localhost', forwarded: 'for=203.0.113.7' }) },
    { name: 'X-Real-IP', req: local({ host: 'localhost', 'x-real-ip': '203.0.113.7' }) },
    {
      name: 'X-Forwarded-For in mixed case',
      req: local({ host: 'localhost', 'X-Forwarded-For': '10.0.0.1' }),
    },
    { name: 'a non-loopback Host', req: local({ host: 'mtp-authz.example.com' }) },
    { name: 'a Host that only starts like localhost', req: local({ host: 'localhost.example.com' }) },
    { name: 'a Host 127 look-alike', req: local({ host: '127.0.0.1.nip.io' }) },
    { name: 'no Host', req: local({}) },
    { name: 'a non-loopback Origin', req: local({ host: 'localhost', origin: 'https://evil.example' }) },
    { name: 'Origin null', req: local({ host: 'localhost', origin: 'null' }) },
    { name: 'a remote address', req: local({ host: 'localhost' }, '10.0.0.5') },
    { name: 'no remote address', req: { headers: { host: 'localhost' } } },
  ])('$name → anonymous', async ({ req }) => {
    expect(await authenticate(req, options)).toEqual({ ok: true, user: ANONYMOUS });
  });

  it('is off with localhostIsAdmin: false', async () => {
    expect(await authenticate(local(), { verifier, localhostIsAdmin: false })).toEqual({
      ok: true,
      user: ANONYMOUS,
    });
  });

  it('anonymous is mesh-system:anonymous in mesh-system:unauthenticated', () => {
    expect(ANONYMOUS).toEqual({ name: 'mesh-system:anonymous', groups: ['mesh-system:unauthenticated'] });
  });
});

describe('bearer tokens', () => {
  it('a token is its user, groups in order then mesh-system:authenticated', async () => {
    const t = await token('john', ['b', 'a']);
    expect(await authenticate({ headers: { authorization: `Bearer ${t}` } }, options)).toEqual({
      ok: true,
      user: { name: 'john', groups: ['b', 'a', 'mesh-system:authenticated'] },
    });
  });

  it('a token always wins over localhost', async () => {
    const t = await token();
    const result = await authenticate({ ...local(), authorization: `Bearer ${t}` }, options);
    expect(result).toEqual({
      ok: true,
      user: { name: 'john', groups: ['team-a', 'mesh-system:authenticated'] },
    });
  });

  it('a bad token from localhost is a 401, not admin', async () => {
    const result = await authenticate(local({ host: 'localhost', authorization: 'Bearer nope' }), options);
    expect(result.ok).toBe(false);
  });

  it('reads the header from headers when not given separately, in any case', async () => {
    const t = await token();
    expect((await authenticate({ headers: { Authorization: `bearer  ${t}` } }, options)).ok).toBe(true);
  });

  it.each([
    { name: 'Basic credentials', value: 'Basic am9objpzZWNyZXQ=' },
    { name: 'an empty header', value: '' },
    { name: 'Bearer without a token', value: 'Bearer ' },
    { name: 'a bare token', value: 'eyJhbGciOi' },
    { name: 'an invalid token', value: 'Bearer abc.def.ghi' },
  ])('$name → 401', async ({ value }) => {
    expect(await authenticate({ headers: { authorization: value } }, options)).toMatchObject({ ok: false });
  });

  it('several Authorization headers → 401', async () => {
    const t = await token();
    expect(
      (await authenticate({ headers: { authorization: [`Bearer ${t}`, `Bearer ${t}`] } }, options)).ok,
    ).toBe(false);
  });

  it('without a signing key every token is refused', async () => {
    const t = await token();
    const result = await authenticate(
      { headers: { authorization: `Bearer ${t}` } },
      { localhostIsAdmin: true },
    );
    expect(result).toMatchObject({ ok: false });
  });
});

describe('loopback names', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.255.255.254', true],
    ['::1', true],
    ['::ffff:127.0.0.2', true],
    ['::FFFF:127.0.0.1', true],
    ['128.0.0.1', false],
    ['::ffff:10.0.0.1', false],
    ['::2', false],
    ['localhost', false],
    ['', false],
  ])('address %s → %s', (address, expected) => {
    expect(isLoopbackAddress(address)).toBe(expected);
  });
  it.each([
    ['localhost', true],
    ['localhost:1', true],
    ['127.0.0.1:65535', true],
    ['[::1]', true],
    ['[::1]:9192', true],
    ['localhost:65536', false],
    ['localhost:', false],
    ['::1', false],
    ['[::2]', false],
    ['127.0.0.1:80:80', false],
    ['user@localhost', false],
    ['', false],
  ])('host %s → %s', (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });
});
