/**
 * `--token-revocation-list FILE`: token ids (`jti`) or user names, one per line (blank lines and
 * `#` comments ignored). A token whose id or user is listed is refused with 401. The file is read
 * at start-up (it must be readable then) and again whenever it changes, on SIGHUP and at every
 * `--resync-interval`, like the policies — and, like them, only once it stopped changing for the
 * stability window (an in-place writer must not publish half a list); a version that cannot be
 * read keeps the last one.
 */
import { readFile } from 'node:fs/promises';
import type { Logger } from '../observability/log.js';
import { currentStamp, waitUntilSettled } from '../policy/settle.js';
import { type PolicyWatcher, watchPolicyPaths } from '../policy/watch.js';

/** Debounce of file events, as for policies: writers change a file in several steps. */
const DEBOUNCE_MS = 250;

export function parseRevocationList(text: string): Set<string> {
  const entries = new Set<string>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line !== '') entries.add(line);
  }
  return entries;
}

export class RevocationList {
  readonly file: string;
  readonly #log: Logger;
  readonly #stabilityWindowMs: number;
  #entries: ReadonlySet<string>;
  #stamp: string | undefined;
  #watcher: PolicyWatcher | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #resync: NodeJS.Timeout | undefined;

  private constructor(file: string, entries: ReadonlySet<string>, log: Logger, stabilityWindowMs: number) {
    this.file = file;
    this.#entries = entries;
    this.#log = log;
    this.#stabilityWindowMs = stabilityWindowMs;
  }

  /** Reads the list; throws when it cannot be read (a start-up error). */
  static async open(
    file: string,
    log: Logger,
    options: { readonly resyncIntervalMs?: number; readonly stabilityWindowMs?: number } = {},
  ): Promise<RevocationList> {
    const entries = parseRevocationList(await readFile(file, 'utf8'));
    const list = new RevocationList(file, entries, log, options.stabilityWindowMs ?? 0);
    list.#stamp = await currentStamp(file);
    const resyncIntervalMs = options.resyncIntervalMs ?? 30_000;
    list.#watcher = watchPolicyPaths([file], () => list.#schedule());
    await list.#watcher.refresh();
    if (resyncIntervalMs > 0) {
      list.#resync = setInterval(() => void list.reload(), resyncIntervalMs);
      list.#resync.unref();
    }
    return list;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** True when the token id or the user name is listed. */
  isRevoked(jti: string | undefined, name: string): boolean {
    return this.#entries.has(name) || (jti !== undefined && this.#entries.has(jti));
  }

  /** Reads the file again; keeps the current list when it cannot be read. */
  async reload(): Promise<void> {
    try {
      const stamps = new Map<string, string>();
      const before = await currentStamp(this.file);
      if (before === undefined) throw new Error('no such file or directory');
      if (before === this.#stamp) return;
      stamps.set(this.file, before);
      await waitUntilSettled(stamps, {
        windowMs: this.#stabilityWindowMs,
        atomicPaths: [],
        known: () => false,
      });
      const settled = stamps.get(this.file);
      const text = await readFile(this.file, 'utf8');
      if (settled === undefined || (await currentStamp(this.file)) !== settled) {
        this.#log.warn({ files: [this.file] }, 'file changed while reading');
        this.#schedule();
        return;
      }
      this.#stamp = settled;
      const next = parseRevocationList(text);
      const changed = next.size !== this.#entries.size || [...next].some((e) => !this.#entries.has(e));
      this.#entries = next;
      if (changed) this.#log.info({ file: this.file, entries: next.size }, 'token revocation list reloaded');
    } catch (error) {
      this.#log.error(
        { file: this.file, err: error, entries: this.#entries.size },
        'token revocation list unreadable; keeping the last one',
      );
    }
  }

  close(): void {
    clearTimeout(this.#debounce);
    clearInterval(this.#resync);
    this.#watcher?.close();
  }

  #schedule(): void {
    clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => void this.reload(), DEBOUNCE_MS);
    this.#debounce.unref();
  }
}
