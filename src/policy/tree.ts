/**
 * The walk of a policy directory, one for the loader and the watcher: the entries whose names do
 * not start with `.`, in name order, symlinks followed, each real directory entered once (a
 * symlink loop or a directory given twice is walked once). Skipping dot-names is what makes a
 * Kubernetes ConfigMap mount work: its `..data` and `..2026_…` directories are reached through
 * the visible symlinks, never walked a second time.
 */
import type { Dirent, Stats } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';

async function visibleEntries(dir: string): Promise<Dirent[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries.filter((e) => !e.name.startsWith('.')).sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** An entry of a walked directory that is not itself a directory. */
export interface TreeEntry {
  readonly path: string;
  readonly name: string;
  readonly dirent: Dirent;
  /** The real path of the directory it is listed in. */
  readonly realDir: string;
  /** Its stat (symlinks followed), or why that failed; absent where the walk did not stat it. */
  readonly info: Stats | Error | undefined;
}

export interface TreeWalk {
  /** Stat every entry (the loader wants each file's stamp); else only symlinks, to follow them. */
  readonly statEntries: boolean;
  /** Each directory entered, the walked one included. */
  directory?(dir: string): void;
  entry?(entry: TreeEntry): void | Promise<void>;
  /** A directory that could not be read (its path, and why). */
  unreadable?(dir: string, error: unknown): void;
}

/** Walks `dir`; `seen` holds the real directories entered, shared by the walks of one load. */
export async function walkTree(dir: string, walk: TreeWalk, seen = new Set<string>()): Promise<void> {
  let visible: Dirent[];
  let realDir: string;
  try {
    realDir = await realpath(dir);
    if (seen.has(realDir)) return;
    seen.add(realDir);
    visible = await visibleEntries(dir);
  } catch (error) {
    walk.unreadable?.(dir, error);
    return;
  }
  walk.directory?.(dir);
  const paths = visible.map((e) => join(dir, e.name));
  const infos = await statAll(
    paths.map((p, i) => (walk.statEntries || visible[i]?.isSymbolicLink() ? p : '')),
  );
  for (const [i, dirent] of visible.entries()) {
    const path = paths[i] as string;
    const info = infos[i];
    const isDirectory =
      info === undefined ? dirent.isDirectory() : !(info instanceof Error) && info.isDirectory();
    if (isDirectory) await walkTree(path, walk, seen);
    else await walk.entry?.({ path, name: dirent.name, dirent, realDir, info });
  }
}

const STAT_BATCH = 64;

/**
 * stat of each path (following symlinks), or the error it failed with; undefined for ''. Stat'ed
 * a batch at a time: one thread-pool round trip per file, in sequence, made a directory of 10 000
 * policies take seconds.
 */
async function statAll(paths: readonly string[]): Promise<(Stats | Error | undefined)[]> {
  const out: (Stats | Error | undefined)[] = [];
  for (let i = 0; i < paths.length; i += STAT_BATCH) {
    const batch = paths.slice(i, i + STAT_BATCH);
    out.push(
      ...(await Promise.all(
        batch.map((p) => (p === '' ? undefined : stat(p).catch((error: Error) => error))),
      )),
    );
  }
  return out;
}
