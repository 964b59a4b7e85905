/** The console renders every outside text through Preact's escaping: no raw-HTML door in ui/. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../support/server.js';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sources(join(dir, entry.name))
      : /\.tsx?$/.test(entry.name)
        ? [join(dir, entry.name)]
        : [],
  );
}

describe('console sources', () => {
  it('never write HTML from strings, evaluate code or fetch from another origin', () => {
    const files = sources(join(REPO, 'ui'));
    expect(files.length).toBeGreaterThan(5);
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      for (const door of [
        'dangerouslySetInnerHTML',
        'innerHTML',
        'outerHTML',
        'insertAdjacentHTML',
        'document.write',
        'eval(',
        'new Function',
        'https://',
        'http://',
      ]) {
        expect(text.includes(door), `${file} uses ${door}`).toBe(false);
      }
    }
  });
});
