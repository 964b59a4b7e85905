/**
 * Finding and reading policy files. Directories are walked by tree.ts (sorted, dot-names skipped:
 * a ConfigMap mount's visible `foo.yaml -> ..data/foo.yaml` symlinks are read, its `..data` /
 * `..2026_…` directories are not read a second time; symlinks followed, each directory once);
 * each file is read once, however many names lead to it.
 */
import type { Stats } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { POLICY_MESSAGES as M } from './errors.js';
import { fileIssue } from './parse.js';
import { walkTree } from './tree.js';
import type { PolicyIssue } from './types.js';

const POLICY_EXTENSION = /\.(ya?ml|json)$/i;

export interface FoundFiles {
  /** As the user would write them: the given path joined with the names below it. */
  readonly files: string[];
  readonly issues: PolicyIssue[];
  /** Files a directory scan skipped that look like policies given the wrong name. */
  readonly warnings: PolicyIssue[];
  /** What each file's stat said while walking (its stamp: see settle.ts). */
  readonly stats: Map<string, Stats>;
}

const ERRNO_MESSAGES: Readonly<Record<string, string>> = {
  ENOENT: M.noSuchFile,
  ENOTDIR: 'not a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ELOOP: 'too many levels of symbolic links',
  EISDIR: 'is a directory',
  EMFILE: 'too many open files',
};

function errnoMessage(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== undefined && ERRNO_MESSAGES[code] !== undefined) return ERRNO_MESSAGES[code];
  return M.unreadable(code ?? String((error as Error).message ?? error));
}

export async function findPolicyFiles(paths: readonly string[]): Promise<FoundFiles> {
  const found: FoundFiles = { files: [], issues: [], warnings: [], stats: new Map() };
  const seenFiles = new Set<string>();

  /** `real` is known when the name is a plain entry of a directory whose real path is known. */
  const addFile = async (file: string, info: Stats, real?: string): Promise<void> => {
    const resolved = real ?? (await realpath(file).catch(() => file));
    if (seenFiles.has(resolved)) return;
    seenFiles.add(resolved);
    found.files.push(file);
    found.stats.set(file, info);
  };

  const seenDirs = new Set<string>();
  const walk = (dir: string): Promise<void> =>
    walkTree(
      dir,
      {
        statEntries: true,
        unreadable: (path, error) => found.issues.push(fileIssue(path, errnoMessage(error))),
        entry: async ({ path, name, dirent, realDir, info }) => {
          if (info === undefined || info instanceof Error) {
            // A dangling or looping symlink: an issue when it looks like a policy file.
            if (POLICY_EXTENSION.test(name)) found.issues.push(fileIssue(path, errnoMessage(info)));
          } else if (info.isFile() && POLICY_EXTENSION.test(name)) {
            await addFile(path, info, dirent.isSymbolicLink() ? undefined : join(realDir, name));
          } else if (info.isFile() && !name.includes('.')) {
            // A ConfigMap key without an extension mounts as such a file: say why it is not read.
            found.warnings.push(fileIssue(path, M.noPolicyExtension));
          }
        },
      },
      seenDirs,
    );

  for (const path of paths) {
    try {
      const s = await stat(path);
      if (s.isDirectory()) await walk(path);
      else if (s.isFile()) await addFile(path, s);
      else found.issues.push(fileIssue(path, M.notARegularFile));
    } catch (error) {
      found.issues.push(fileIssue(path, errnoMessage(error)));
    }
  }
  return found;
}

/**
 * Reads a file of at most `maxBytes`, checking its size before reading it. A larger file is not
 * read (or not read further): `tooLarge` is the size seen, for the caller to say which limit.
 */
export async function readPolicyFile(
  file: string,
  maxBytes: number,
): Promise<{ bytes: Uint8Array } | { tooLarge: number } | { issue: PolicyIssue }> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(file, 'r');
    const { size } = await handle.stat();
    if (size > maxBytes) return { tooLarge: size };
    // The file may change between stat and read: read to the end, but never past the limit.
    const chunks: Buffer[] = [];
    let length = 0;
    for (;;) {
      const chunk = Buffer.alloc(Math.min(Math.max(size - length, 65_536), maxBytes + 1 - length));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, length);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      length += bytesRead;
      if (length > maxBytes) return { tooLarge: length };
    }
    return { bytes: Buffer.concat(chunks, length) };
  } catch (error) {
    return { issue: fileIssue(file, errnoMessage(error)) };
  } finally {
    await handle?.close();
  }
}
