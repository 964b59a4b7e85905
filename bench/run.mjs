// `npm run bench`: every benchmark in turn, each printing its figures and whether targets were met.
// Usage: npm run bench [-- --quick]
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const quick = process.argv.includes('--quick') ? ['--quick'] : [];
const benches = ['engine.mjs', 'handler.mjs', 'load.mjs', 'store.mjs'];
let failed = 0;
for (const bench of benches) {
  console.log(`\n== ${bench}`);
  const run = spawnSync(process.execPath, [join(import.meta.dirname, bench), ...quick], { stdio: 'inherit' });
  if (run.status !== 0) failed++;
}
process.exitCode = failed === 0 ? 0 : 1;
