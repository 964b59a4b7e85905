/**
 * Notices policy changes: inotify-style watches on every policy directory (and on the parent of
 * every policy file), re-armed after each reload so new subdirectories are covered. Events are
 * only a hint — the reloader debounces them and re-reads everything — so missing or duplicated
 * events cost nothing but latency; a periodic rescan catches whatever the watches miss.
 */
import { type FSWatcher, watch } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { walkTree } from './tree.js';

export interface PolicyWatcher {
  /** Re-walks the paths and watches any directory not yet watched (call after each reload). */
  refresh(): Promise<void>;
  close(): void;
}

export function watchPolicyPaths(
  paths: readonly string[],
  onChange: (reason: string) => void,
): PolicyWatcher {
  const watchers = new Map<string, FSWatcher>();
  let closed = false;

  const watchDirectory = (dir: string): void => {
    if (closed || watchers.has(dir)) return;
    try {
      const watcher = watch(dir, { persistent: false }, (event, name) =>
        onChange(`${event} ${join(dir, String(name ?? ''))}`),
      );
      // A watched directory that disappears (deleted, or swapped away) errors out: drop it; the
      // next refresh re-arms whatever exists then.
      watcher.on('error', () => {
        watcher.close();
        watchers.delete(dir);
        onChange(`watch lost ${dir}`);
      });
      watchers.set(dir, watcher);
    } catch {
      // Not there (yet): the parent's watch or the periodic rescan will notice when it appears.
    }
  };

  const refresh = async (): Promise<void> => {
    const wanted = new Set<string>();
    // The directories the loader walks, the same way (tree.ts). A ConfigMap mount's ..data is
    // not among them: it is watched through its parent, where the swap that publishes a new
    // version of every file is a rename.
    const seen = new Set<string>();
    const walk = { statEntries: false, directory: (dir: string) => wanted.add(dir) };
    for (const path of paths) {
      const info = await stat(path).catch(() => undefined);
      if (info?.isDirectory()) await walkTree(path, walk, seen);
      else wanted.add(dirname(path));
    }
    for (const [dir, watcher] of watchers) {
      if (!wanted.has(dir)) {
        watcher.close();
        watchers.delete(dir);
      }
    }
    for (const dir of wanted) watchDirectory(dir);
  };

  return {
    refresh,
    close() {
      closed = true;
      for (const watcher of watchers.values()) watcher.close();
      watchers.clear();
    },
  };
}
