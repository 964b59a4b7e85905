/**
 * The console's built files (`npm run build` bundles ui/ into dist/ui/), read once at start-up
 * into memory: a fixed set of names, so no request path ever reaches the file system.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface UiAsset {
  readonly body: Buffer;
  readonly contentType: string;
  readonly etag: string;
}

export const UI_FILES: Readonly<Record<string, string>> = Object.freeze({
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
});

/** dist/ui beside the compiled code, or the repository's dist/ui when running from src/ (tests). */
export function defaultUiDirectories(): string[] {
  return [new URL('../ui/', import.meta.url), new URL('../../dist/ui/', import.meta.url)].map((url) =>
    fileURLToPath(url),
  );
}

/** The assets of the first directory holding all of them; undefined when none is built. */
export function loadUiAssets(
  directories: readonly string[] = defaultUiDirectories(),
): Map<string, UiAsset> | undefined {
  for (const directory of directories) {
    if (!Object.keys(UI_FILES).every((name) => existsSync(`${directory}/${name}`))) continue;
    const assets = new Map<string, UiAsset>();
    for (const [name, contentType] of Object.entries(UI_FILES)) {
      const body = readFileSync(`${directory}/${name}`);
      const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
      assets.set(name, { body, contentType, etag });
    }
    return assets;
  }
  return undefined;
}
