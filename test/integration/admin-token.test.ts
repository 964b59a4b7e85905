/**
 * `mtp-authz token` as a process: the token alone on stdout, accepted by a server with the same
 * key; groups repeated or comma-listed; env forms; every usage error exits 2 with one line on
 * stderr. And `serve` refuses an unusable signing key at start-up.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, REPO, type ServeProcess, spawnServe, startServe } from '../support/server.js';

const dir = mkdtempSync(join(tmpdir(), 'mtp-token-cli-'));
const KEY_FILE = join(dir, 'secret');
writeFileSync(KEY_FILE, 'a-shared-secret-of-at-least-32-bytes-for-tests\n');
const SHORT_KEY = join(dir, 'short');
writeFileSync(SHORT_KEY, 'too-short\n');

function token(args: string[], env: NodeJS.ProcessEnv = {}) {
  const run = spawnSync(process.execPath, [join(REPO, 'dist/cli.js'), 'token', ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, ...env },
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

const claims = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString());

let server: (ServeProcess & { httpPort: number }) | undefined;
beforeAll(() => ensureBuilt());
afterAll(async () => {
  server?.kill('SIGKILL');
  await server?.exited;
});

describe('mtp-authz token', () => {
  it('prints the token alone, and the server with the same key accepts it', async () => {
    const run = token(['--name', 'ci', '--group', 'mesh-system:admin', '--token-signing-key', KEY_FILE]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const jwt = run.stdout.trim();
    expect(claims(jwt)).toMatchObject({ name: 'ci', groups: ['mesh-system:admin'] });
    expect(claims(jwt).exp - claims(jwt).iat).toBe(24 * 3600);

    const stateDir = join(dir, 'state');
    const rbac = join(dir, 'rbac.yaml');
    writeFileSync(
      rbac,
      'type: AccessRoleBinding\nname: default\nsubjects: [{type: Group, name: mesh-system:admin}]\nroles: [admin]\n',
    );
    server = await startServe([
      '--policies',
      rbac,
      '--admin-state-dir',
      stateDir,
      '--token-signing-key',
      KEY_FILE,
      '--no-admin-localhost-is-admin',
    ]);
    const put = (authorization?: string) =>
      fetch(`http://127.0.0.1:${server?.httpPort}/access-roles/viewer`, {
        method: 'PUT',
        headers: {
          'content-type': 'application/json',
          ...(authorization === undefined ? {} : { authorization }),
        },
        body: JSON.stringify({ type: 'AccessRole', name: 'viewer', rules: [] }),
      });
    expect((await put()).status).toBe(403);
    expect((await put(`Bearer ${jwt}`)).status).toBe(201);
  });

  it('--group repeats and takes comma lists; --valid-for sets the lifetime', () => {
    const run = token([
      '--name',
      'x',
      '--group',
      'a,b',
      '--group',
      'c',
      '--valid-for',
      '90s',
      '--token-signing-key',
      KEY_FILE,
    ]);
    expect(run.code).toBe(0);
    const c = claims(run.stdout.trim());
    expect(c.groups).toEqual(['a', 'b', 'c']);
    expect(c.exp - c.iat).toBe(90);
  });

  it('reads the env forms; flags win over env', () => {
    const env = {
      MTP_AUTHZ_NAME: 'from-env',
      MTP_AUTHZ_GROUP: 'g1,g2',
      MTP_AUTHZ_VALID_FOR: '15m',
      MTP_AUTHZ_TOKEN_SIGNING_KEY: KEY_FILE,
    };
    const fromEnv = token([], env);
    expect(fromEnv.code).toBe(0);
    expect(claims(fromEnv.stdout.trim())).toMatchObject({ name: 'from-env', groups: ['g1', 'g2'] });
    const flags = token(['--name', 'from-flag', '--group', 'g3'], env);
    expect(claims(flags.stdout.trim())).toMatchObject({ name: 'from-flag', groups: ['g3'] });
  });

  it('--help prints usage and exits 0', () => {
    const run = token(['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: mtp-authz token --name NAME/);
  });

  it.each([
    [['--token-signing-key', KEY_FILE], 'mtp-authz token: --name NAME is required\n'],
    [['--name', 'x'], 'mtp-authz token: --token-signing-key FILE is required\n'],
    [
      ['--name', 'x', '--valid-for', '1d', '--token-signing-key', KEY_FILE],
      'mtp-authz token: --valid-for: invalid duration "1d": expected a positive duration such as 30s, 15m, 24h or 1h30m\n',
    ],
    [
      ['--name', 'x', '--group', 'a,,b', '--token-signing-key', KEY_FILE],
      'mtp-authz token: --group must not be empty\n',
    ],
    [
      ['--name', 'x', 'extra', '--token-signing-key', KEY_FILE],
      'mtp-authz token: unexpected argument "extra"\n',
    ],
    [
      ['--name', 'x', '--token-signing-key', SHORT_KEY],
      `mtp-authz token: token signing key ${SHORT_KEY}: an HS256 secret must be at least 32 bytes, found 9 (trailing whitespace trimmed); or use a PEM Ed25519 private key\n`,
    ],
  ])('bad usage %j exits 2 with one line', (args, message) => {
    const run = token(args);
    expect(run).toEqual({ code: 2, stdout: '', stderr: message });
  });

  it('an unknown flag or an unreadable key file exits 2 with one line', () => {
    for (const args of [
      ['--name', 'x', '--ttl', '1h', '--token-signing-key', KEY_FILE],
      ['--name', 'x', '--token-signing-key', join(dir, 'missing')],
    ]) {
      const run = token(args);
      expect(run.code).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(/^mtp-authz token: [^\n]+\n$/);
    }
  });
});

describe('serve with an unusable signing key', () => {
  it('exits 2 and says why', async () => {
    const s = spawnServe([
      '--admin-state-dir',
      join(dir, 'state-2'),
      '--token-signing-key',
      SHORT_KEY,
      '--grpc-address',
      '127.0.0.1:0',
      '--http-address',
      '127.0.0.1:0',
    ]);
    expect(await s.exited).toBe(2);
    expect(s.stderr.join('\n')).toContain(
      `token signing key ${SHORT_KEY}: an HS256 secret must be at least 32 bytes`,
    );
  });
});
