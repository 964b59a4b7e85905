/** Temporary directories for tests, and policy directories filled with files. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A new empty directory under the system's temporary directory. */
export const tempDir = (prefix = 'mtp-test-'): string => mkdtempSync(join(tmpdir(), prefix));

/** A new directory holding `files` (name → content); returns its path. */
export function policyDir(files: Readonly<Record<string, string>>, prefix = 'mtp-policies-'): string {
  const dir = tempDir(prefix);
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}
