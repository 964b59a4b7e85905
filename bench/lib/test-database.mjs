// The tests' throw-away PostgreSQL cluster (test/support/postgres.ts) for the benchmarks: bundled
// to plain JavaScript with esbuild, since Node 20 runs no TypeScript, then loaded.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';

/** Starts a cluster as the tests do; resolves the harness's TestDatabase. */
export async function startTestDatabase() {
  const dir = mkdtempSync(join(tmpdir(), 'mtp-bench-pg-'));
  const outfile = join(dir, 'postgres.cjs');
  try {
    await build({
      entryPoints: [join(import.meta.dirname, '../../test/support/postgres.ts')],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      external: ['pg-native'],
      outfile,
      logLevel: 'silent',
    });
    return await createRequire(import.meta.url)(outfile).startTestDatabase();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
