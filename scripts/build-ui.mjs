// Bundles the operator console (ui/) into dist/ui/: one script, one style sheet, one page.
// Run by `npm run build`; the output is build output, never committed.
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist/ui');
await mkdir(out, { recursive: true });
await build({
  entryPoints: [join(root, 'ui/main.tsx')],
  outfile: join(out, 'app.js'),
  bundle: true,
  format: 'esm',
  target: 'es2020',
  minify: true,
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'none',
  logLevel: 'warning',
});
await copyFile(join(root, 'ui/index.html'), join(out, 'index.html'));
await copyFile(join(root, 'ui/app.css'), join(out, 'app.css'));
