/**
 * Half-written policy files. An in-place writer (`cat >`, scp, `rsync --inplace`) that pauses
 * after a complete YAML document leaves a file that parses but lacks what follows — perhaps the
 * Deny that overrode an Allow. So a file that changed since the last load is read only once its
 * size and times have stayed the same for the stability window, and it is stat'ed again after
 * reading: if it moved meanwhile, the load is not used (the caller reads again later).
 *
 * Files written by rename (the admin API's own directory) are complete the moment they appear
 * and are read at once.
 */
import type { Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve, sep } from 'node:path';

/** Size, modification and change times, inode and device: what a writer cannot avoid changing. */
export function stampOf(info: Stats): string {
  return `${info.size}:${info.mtimeMs}:${info.ctimeMs}:${info.ino}:${info.dev}`;
}

export async function currentStamp(file: string): Promise<string | undefined> {
  const info = await stat(file).catch(() => undefined);
  return info === undefined ? undefined : stampOf(info);
}

export interface SettleOptions {
  readonly windowMs: number;
  /** Directories whose files are only ever replaced by rename: never waited for. */
  readonly atomicPaths: readonly string[];
  /** True when the file has this stamp in the last load already (nothing to wait for). */
  readonly known: (file: string, stamp: string) => boolean;
  /** Longest wait for files that never stop changing; they are then read and re-checked. */
  readonly maxWaitMs?: number;
}

/**
 * Waits until every changed file has kept its stamp for `windowMs`: measured from its last change
 * (ctime or mtime) or, should the file system's clock disagree with ours, over one window we
 * watched ourselves. Updates `stamps` with what it saw last.
 */
export async function waitUntilSettled(stamps: Map<string, string>, options: SettleOptions): Promise<void> {
  const { windowMs } = options;
  if (windowMs <= 0) return;
  const atomic = options.atomicPaths.map((p) => resolve(p));
  const isAtomic = (file: string): boolean => {
    const full = resolve(file);
    return atomic.some((dir) => full === dir || full.startsWith(dir.endsWith(sep) ? dir : dir + sep));
  };
  let candidates = [...stamps].filter(([file, stamp]) => !isAtomic(file) && !options.known(file, stamp));
  const deadline = Date.now() + (options.maxWaitMs ?? 30 * windowMs);
  let quietSince = Date.now();
  for (;;) {
    const now = Date.now();
    const lastChange = Math.max(0, ...candidates.map(([, stamp]) => changedAt(stamp)));
    if (candidates.length === 0 || now - lastChange >= windowMs || now - quietSince >= windowMs) return;
    if (now >= deadline) return;
    const wait = Math.min(windowMs - Math.max(0, now - lastChange), windowMs - (now - quietSince));
    await new Promise((r) => setTimeout(r, Math.max(10, wait)));
    const next: [string, string][] = [];
    for (const [file, stamp] of candidates) {
      const seen = await currentStamp(file);
      if (seen === undefined) {
        stamps.delete(file);
        continue;
      }
      if (seen !== stamp) {
        quietSince = Date.now();
        stamps.set(file, seen);
      }
      next.push([file, seen]);
    }
    candidates = next;
  }
}

/** The later of mtime and ctime of a stamp, in ms since the epoch. */
function changedAt(stamp: string): number {
  const [, mtime, ctime] = stamp.split(':');
  return Math.max(Number(mtime), Number(ctime));
}
