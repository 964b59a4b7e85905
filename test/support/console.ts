/**
 * For console tests: the built CLI plus the bundled console (dist/ui/), rebuilt when a ui/ source
 * is newer than the bundle; and a policy directory to serve.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { CheckRequestInit } from '../authz/wire.js';
import { ensureBuilt, REPO } from './server.js';

const BUNDLE = join(REPO, 'dist/ui/app.js');

export function ensureConsoleBuilt(): void {
  ensureBuilt();
  const stale =
    !existsSync(BUNDLE) ||
    execFileSync('find', [join(REPO, 'ui'), '-newer', BUNDLE], { encoding: 'utf8' }).trim() !== '';
  if (stale)
    execFileSync(process.execPath, [join(REPO, 'scripts/build-ui.mjs')], { cwd: REPO, stdio: 'pipe' });
}

/** A Check as Envoy sends it for an HTTP request from `source` to `destination` (SPIFFE principals). */
export function httpCheck(
  source: string | undefined,
  destination: string,
  http: { method?: string; host?: string; path?: string; requestId?: string } = {},
): CheckRequestInit {
  const headers: Record<string, string> = {};
  if (http.requestId !== undefined) headers['x-request-id'] = http.requestId;
  return {
    ...(source === undefined ? {} : { source: { principal: source } }),
    destination: { principal: destination },
    http: {
      method: http.method ?? 'GET',
      host: http.host ?? 'backend',
      path: http.path ?? '/',
      headers,
    },
  };
}
