/**
 * What a walk of a policy directory sees, the same for the loader and the watcher: the entries
 * whose names do not start with `.`, sorted by name. Skipping dot-names is what makes a
 * Kubernetes ConfigMap mount work: its `..data` and `..2026_…` directories are reached through
 * the visible symlinks, never walked a second time.
 */
import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';

export async function visibleEntries(dir: string): Promise<Dirent[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries.filter((e) => !e.name.startsWith('.')).sort((a, b) => (a.name < b.name ? -1 : 1));
}
