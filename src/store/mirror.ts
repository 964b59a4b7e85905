/**
 * This replica's copy of the shared store: every live resource's text by its virtual file name
 * (`postgres:meshtrafficpermissions/<mesh>/<name>.yaml`, …) and the store version it reflects.
 * The loader reads these texts like files, so a violation names the resource it is in.
 */
import type { PolicyText } from '../policy/load.js';

export const VIRTUAL_FILE_PREFIX = 'postgres:';

/** One row of `mtp_authz_resources` as a change: `text` undefined for a deleted resource (a tombstone). */
export interface StoreChange {
  readonly file: string;
  readonly text: string | undefined;
  readonly version: number;
}

/** The texts a load reads and the version they are at. */
export interface MirrorSnapshot {
  readonly version: number;
  readonly texts: readonly PolicyText[];
}

/**
 * Where a process's loads take the store's texts from: the store itself, or (a worker of
 * `--workers`) the copy its primary last sent.
 */
export interface StoreSource {
  /** The texts for a load; the load that swaps them in then calls `served(version)`. */
  snapshot(): MirrorSnapshot;
  served(version: number): void;
  /** True while the store is out of reach (the set served may be behind it). */
  readonly stale: boolean;
  /** The version serving, for GET /policies. */
  readonly servedVersion: number;
}

export class Mirror {
  readonly #texts = new Map<string, { text: string; version: number }>();
  #version = 0;

  /** The store version every change up to which is applied here. */
  get version(): number {
    return this.#version;
  }

  get size(): number {
    return this.#texts.size;
  }

  /** Applies changes read after `version`; an older change than the one held for a file is ignored. */
  apply(changes: readonly StoreChange[], throughVersion?: number): void {
    for (const change of changes) {
      const held = this.#texts.get(change.file);
      if (held !== undefined && held.version >= change.version) continue;
      if (change.text === undefined) this.#texts.delete(change.file);
      else this.#texts.set(change.file, { text: change.text, version: change.version });
      if (change.version > this.#version) this.#version = change.version;
    }
    if (throughVersion !== undefined && throughVersion > this.#version) this.#version = throughVersion;
  }

  /** A full resync: the live rows at `version` replace everything held. */
  replace(changes: readonly StoreChange[], version: number): void {
    this.#texts.clear();
    for (const change of changes)
      if (change.text !== undefined)
        this.#texts.set(change.file, { text: change.text, version: change.version });
    this.#version = version;
  }

  /** The texts to load, sorted by file name (loads do not depend on arrival order). */
  snapshot(): MirrorSnapshot {
    return { version: this.#version, texts: textsOf(this.#texts) };
  }

  /** The texts as they would be with `file` set to `text` (undefined: removed), for a check before commit. */
  with(file: string, text: string | undefined): readonly PolicyText[] {
    const copy = new Map(this.#texts);
    if (text === undefined) copy.delete(file);
    else copy.set(file, { text, version: this.#version + 1 });
    return textsOf(copy);
  }
}

function textsOf(map: ReadonlyMap<string, { text: string }>): PolicyText[] {
  return [...map.keys()].sort().map((file) => ({ file, text: (map.get(file) as { text: string }).text }));
}
