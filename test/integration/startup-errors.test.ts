/**
 * `mtp-authz serve` with a flag that names an unusable file or directory: one JSON line on stderr
 * naming the flag and the file, exit 2, and nothing else (no grpc-js text line, no hang).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeCa, makeServerCert, writeTempPem } from '../support/certs.js';
import { ensureBuilt, REPO } from '../support/server.js';

beforeAll(() => ensureBuilt());

const BASE = ['--policies', join(REPO, 'examples/policies'), '--http-address', '127.0.0.1:0'];

/** Runs serve to its exit; returns the exit code and the `msg` of every stderr line (each must be JSON). */
function serveFails(...args: string[]): { code: number | null; messages: string[] } {
  const run = spawnSync(process.execPath, [join(REPO, 'dist/cli.js'), 'serve', ...BASE, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  const lines = run.stderr.split('\n').filter((l) => l !== '');
  return { code: run.status, messages: lines.map((l) => (JSON.parse(l) as { msg: string }).msg) };
}

describe('start-up errors', () => {
  it('a Unix socket in a directory that does not exist', () => {
    expect(serveFails('--grpc-address', 'unix:///nonexistent/mtp-authz/authz.sock')).toEqual({
      code: 2,
      messages: [
        '--grpc-address unix:///nonexistent/mtp-authz/authz.sock: directory /nonexistent/mtp-authz cannot be used (ENOENT)',
      ],
    });
  });

  it('a Unix socket whose directory is a file', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mtp-start-')), 'plain');
    writeFileSync(file, '');
    expect(serveFails('--grpc-address', `unix://${file}/authz.sock`)).toEqual({
      code: 2,
      messages: [`--grpc-address unix://${file}/authz.sock: ${file} is not a directory`],
    });
  });

  it('an admin state directory under /proc, new or existing, fails at once instead of hanging', () => {
    const grpc = ['--grpc-address', '127.0.0.1:0'];
    expect(serveFails(...grpc, '--admin-state-dir', '/proc/mtp-authz-state')).toEqual({
      code: 2,
      messages: [
        "cannot open --admin-state-dir /proc/mtp-authz-state: ENOENT: no such file or directory, mkdir '/proc/mtp-authz-state'",
      ],
    });
    const existing = serveFails(...grpc, '--admin-state-dir', '/proc');
    expect(existing.code).toBe(2);
    expect(existing.messages).toHaveLength(1);
    expect(existing.messages[0]).toMatch(
      /^cannot open --admin-state-dir \/proc: E[A-Z]+: .*'\/proc\/\.tmp-\d+-0-probe'$/,
    );
  });

  it('an admin state directory that is a file', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mtp-start-')), 'plain');
    writeFileSync(file, '');
    const failed = serveFails('--grpc-address', '127.0.0.1:0', '--admin-state-dir', file);
    expect(failed.code).toBe(2);
    expect(failed.messages).toHaveLength(1);
    expect(failed.messages[0]).toMatch(
      new RegExp(
        `^cannot open --admin-state-dir ${file}: ENOTDIR: not a directory, open '${file}/\\.tmp-\\d+-0-probe'$`,
      ),
    );
  });

  describe('TLS files', () => {
    const ca = makeCa();
    const server = makeServerCert(ca);
    const cert = writeTempPem('startup-cert.pem', server.certPem);
    const key = writeTempPem('startup-key.pem', server.keyPem);
    const grpc = ['--grpc-address', '127.0.0.1:0'];

    it('cert and key swapped', () => {
      expect(serveFails(...grpc, '--grpc-tls-cert', key, '--grpc-tls-key', cert)).toEqual({
        code: 2,
        messages: [
          `--grpc-tls-cert ${key}: holds a private key, not a certificate (are --grpc-tls-cert and --grpc-tls-key swapped?)`,
        ],
      });
    });

    it('the key file holds a certificate', () => {
      expect(serveFails(...grpc, '--grpc-tls-cert', cert, '--grpc-tls-key', cert)).toEqual({
        code: 2,
        messages: [
          `--grpc-tls-key ${cert}: holds a certificate, not a private key (are --grpc-tls-cert and --grpc-tls-key swapped?)`,
        ],
      });
    });

    it('a key of another certificate, a missing file, a CA that is not a certificate', () => {
      const other = writeTempPem('startup-other-key.pem', makeCa('another CA').keyPem);
      expect(serveFails(...grpc, '--grpc-tls-cert', cert, '--grpc-tls-key', other)).toEqual({
        code: 2,
        messages: [`--grpc-tls-key ${other}: does not belong to the certificate in --grpc-tls-cert ${cert}`],
      });
      expect(serveFails(...grpc, '--grpc-tls-cert', '/nonexistent/cert.pem', '--grpc-tls-key', key)).toEqual({
        code: 2,
        messages: ['--grpc-tls-cert /nonexistent/cert.pem: cannot be read (ENOENT)'],
      });
      expect(
        serveFails(...grpc, '--grpc-tls-cert', cert, '--grpc-tls-key', key, '--grpc-tls-client-ca', key),
      ).toEqual({ code: 2, messages: [`--grpc-tls-client-ca ${key}: not a PEM certificate`] });
    });
  });

  it('a listener that cannot open logs JSON only, with the reason', () => {
    const failed = serveFails('--grpc-address', '192.0.2.1:9191');
    expect(failed.code).toBe(1);
    // Every line parsed as JSON in serveFails.
    expect(failed.messages.at(-1)).toBe(
      'cannot start the gRPC listener: listen EADDRNOTAVAIL: address not available 192.0.2.1:9191',
    );
  });
});
