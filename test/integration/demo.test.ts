/**
 * `npm run demo` end to end: the real server on examples/policies, real certificates, Envoy-shaped
 * Check calls. Needs `dist/` (built here when missing or older than the sources).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, REPO as ROOT } from '../support/server.js';

const run = promisify(execFile);

describe('npm run demo', () => {
  beforeAll(() => ensureBuilt(), 120_000);

  it('answers every scenario of the MeshTrafficPermission page as expected', async () => {
    const { stdout } = await run(process.execPath, [join(ROOT, 'scripts', 'demo.mjs')], {
      cwd: ROOT,
      timeout: 60_000,
    });
    const rows = stdout
      .split('\n')
      .filter((line) => line.startsWith('✓') || line.startsWith('✗'))
      .map((line) => line.split(/ {2,}/));
    expect(rows).toEqual([
      ['✓', 'orders → payments', 'default', 'allowed', 'allow-orders[0]', 'rule'],
      ['✓', 'billing → payments', 'default', 'denied (403)', 'deny-all[0]', 'rule'],
      ['✓', 'web (zone us-east, env prod) → backend', 'zones', 'allowed', 'example-with-tags[0]', 'rule'],
      ['✓', 'web (zone us-east, env dev) → backend', 'zones', 'denied (403)', 'example-with-tags[1]', 'rule'],
      ['✓', 'plaintext client → payments (STRICT mesh)', 'default', 'denied (403)', '-', 'no-identity'],
      ['✓', 'reports → postgres (TCP)', 'open', 'allowed', 'allow-all[0]', 'rule'],
    ]);
    expect(stdout).toContain('6/6 answers as expected\n');
    expect(stdout).toMatch(/server stopped \(exit 0\)\n$/);
  }, 60_000);
});
