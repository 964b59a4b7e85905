/** Talking to the admin API as its users do: tokens from the CLI, requests over HTTP. */
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { REPO } from './server.js';

/** A new Ed25519 token signing key (PKCS#8 PEM) at DIR/signing-key.pem; returns its path. */
export function writeSigningKey(dir: string): string {
  const keyFile = join(dir, 'signing-key.pem');
  writeFileSync(keyFile, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
  return keyFile;
}

/** A token as `mtp-authz token …ARGS --token-signing-key KEYFILE` prints it. */
export function tokenFromCli(keyFile: string, ...args: string[]): string {
  const run = spawnSync(
    process.execPath,
    [join(REPO, 'dist/cli.js'), 'token', ...args, '--token-signing-key', keyFile],
    { encoding: 'utf8' },
  );
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return run.stdout.trim();
}

export interface AdminRequestOptions {
  readonly token?: string;
  readonly yaml?: string;
  readonly json?: unknown;
  readonly headers?: Record<string, string>;
}

/** One admin request to the server on `httpPort`: a bearer token, a YAML or a JSON body. */
export function adminFetch(
  httpPort: number,
  method: string,
  path: string,
  options: AdminRequestOptions = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.yaml !== undefined) {
    headers['content-type'] = 'application/yaml';
    body = options.yaml;
  } else if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  }
  return fetch(`http://127.0.0.1:${httpPort}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body }),
  });
}

/** Kong Mesh's refusal of `user` ("name/group"), status and body exactly. */
export function expectAccessDenied(answer: { status: number; text: string }, user: string): void {
  expect(answer.status).toBe(403);
  expect(JSON.parse(answer.text)).toEqual({
    status: 403,
    title: 'Access Denied',
    detail: `user "${user}" cannot access the resource`,
  });
}
