/**
 * Resources written through the admin API, one Universal-form YAML file each under
 * `--admin-state-dir` (SPEC §7.1): `meshtrafficpermissions/<mesh>/<name>.yaml`,
 * `access-roles/<name>.yaml`, `access-role-bindings/<name>.yaml`. The directory is also a policy
 * path, so the loader reads these files like any other.
 *
 * Writes are atomic: a dot-prefixed temp file in the same directory, fsync, rename over the
 * target, fsync of the directory. A crash leaves the old or the new file, never a partial one;
 * the temp file it may leave is skipped by the loader (dot prefix, no policy extension) and
 * removed by `cleanupTemp()` at start-up. Writes to one resource run one after another.
 */
import { lstat, mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { DEFAULT_MESH } from '../policy/types.js';
import {
  type DeleteResult,
  type PutResult,
  type ResourceStore,
  type ResourceTransaction,
  STORE_DIRS,
  type StoredType,
  type UniversalResource,
} from './resource-store.js';

const RFC1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Kuma's mesh charset, but starting with an alphanumeric: never `.`, `..` or a hidden directory. */
const MESH_NAME = /^[0-9a-z][0-9a-z\-_.]*$/;
/** 255-byte file names minus `.yaml`. */
export const MAX_STORED_NAME_LENGTH = 250;
const MAX_MESH_LENGTH = 253;
const TEMP_PREFIX = '.tmp-';
const TEMP_NAME = /^\.tmp-\d+-\d+-/;

export type StoreErrorCode = 'invalid-type' | 'invalid-name' | 'invalid-mesh';

/** Raised before the file system is touched; the routes answer it with a 400. */
export class StoreError extends Error {
  override readonly name = 'StoreError';
  constructor(
    readonly code: StoreErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Test hook: called at each step of a write, to look at the directory as a crash would leave it. */
export type WriteStep = 'temp-written' | 'renamed';
export interface AdminStoreOptions {
  readonly onStep?: (step: WriteStep, paths: { temp: string; file: string }) => void | Promise<void>;
}

export {
  type ResourceTransaction,
  STORE_DIRS,
  type StoredType,
  type UniversalResource,
} from './resource-store.js';

export class AdminStore implements ResourceStore {
  readonly dir: string;
  readonly #chains = new Map<string, Promise<void>>();
  readonly #inFlight = new Set<string>();
  readonly #onStep: AdminStoreOptions['onStep'];
  #counter = 0;

  constructor(dir: string, options: AdminStoreOptions = {}) {
    this.dir = resolve(dir);
    this.#onStep = options.onStep;
  }

  /** Creates the directory if needed and removes temp files a crash left behind. */
  static async open(dir: string, options: AdminStoreOptions = {}): Promise<AdminStore> {
    const store = new AdminStore(dir, options);
    await mkdirDurable(store.dir);
    await store.#probeWritable();
    await store.cleanupTemp();
    return store;
  }

  /** The file of a resource; throws StoreError for a type, name or mesh that could escape the directory. */
  fileFor(type: string, mesh: string | undefined, name: string): string {
    return join(this.dir, resourcePath(type, mesh, name));
  }

  /** True for a file inside this store (a resource the API may change); false for operators' files. */
  owns(file: string): boolean {
    const rel = relative(this.dir, resolve(file));
    return rel !== '' && !rel.startsWith('..') && !rel.startsWith(sep) && !rel.includes(`..${sep}`);
  }

  /**
   * Runs `fn` while no other write to the same resource runs: the routes hold it across
   * read → authorize → write → wait-for-reload so that concurrent writes apply in arrival order.
   */
  withResource<T>(
    type: string,
    mesh: string | undefined,
    name: string,
    fn: (tx: ResourceTransaction) => Promise<T>,
  ): Promise<T> {
    let file: string;
    try {
      file = this.fileFor(type, mesh, name);
    } catch (err) {
      return Promise.reject(err);
    }
    const tx: ResourceTransaction = {
      file,
      holds: (sourceFile) => resolve(sourceFile) === file,
      read: () => readIfExists(file),
      put: (resource) => {
        const target = this.fileFor(resource.type, resource.mesh, resource.name);
        if (target !== file)
          throw new Error(`${resource.type} "${resource.name}" is not the locked resource`);
        return this.#write(file, serializeResource(resource));
      },
      delete: () => this.#remove(file),
      undo: async (previous) => {
        if (previous === undefined) await this.#remove(file);
        else await this.#write(file, serializeResource(parseYaml(previous) as UniversalResource));
      },
    };
    return this.#serialize(file, () => fn(tx));
  }

  put(resource: UniversalResource): Promise<PutResult> {
    return this.withResource(resource.type, resource.mesh, resource.name, (tx) => tx.put(resource));
  }

  delete(type: StoredType, mesh: string | undefined, name: string): Promise<DeleteResult> {
    return this.withResource(type, mesh, name, (tx) => tx.delete());
  }

  /** The stored YAML text, or undefined. */
  async read(type: StoredType, mesh: string | undefined, name: string): Promise<string | undefined> {
    return readIfExists(this.fileFor(type, mesh, name));
  }

  /** Fails now, not at the first write, when files cannot be created here (read-only, /proc). */
  async #probeWritable(): Promise<void> {
    const probe = join(this.dir, `${TEMP_PREFIX}${process.pid}-0-probe`);
    const handle = await open(probe, 'w');
    await handle.close();
    await unlink(probe);
  }

  /** Removes temp files left by a crash (not those of this process's writes in flight). */
  async cleanupTemp(): Promise<string[]> {
    const removed: string[] = [];
    const visit = async (dir: string, depth: number): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const e of entries) {
        const path = join(dir, e.name);
        if (e.isFile() && TEMP_NAME.test(e.name) && !this.#inFlight.has(path)) {
          await unlink(path).catch(() => undefined);
          removed.push(path);
        } else if (e.isDirectory() && depth > 0 && !e.name.startsWith('.')) {
          await visit(path, depth - 1);
        }
      }
    };
    for (const sub of Object.values(STORE_DIRS)) await visit(join(this.dir, sub), 1);
    if (removed.length > 0) for (const d of new Set(removed.map((p) => dirname(p)))) await fsyncDir(d);
    return removed;
  }

  #serialize<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#chains.get(key) ?? Promise.resolve();
    const run = previous.then(fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.#chains.set(key, tail);
    void tail.then(() => {
      if (this.#chains.get(key) === tail) this.#chains.delete(key);
    });
    return run;
  }

  async #write(file: string, text: string): Promise<{ created: boolean; file: string }> {
    const dir = dirname(file);
    await mkdirDurable(dir);
    const temp = join(dir, `${TEMP_PREFIX}${process.pid}-${++this.#counter}-${basename(file)}`.slice(0, 255));
    this.#inFlight.add(temp);
    try {
      const handle = await open(temp, 'wx', 0o644);
      try {
        await handle.writeFile(text);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await this.#onStep?.('temp-written', { temp, file });
      const created = !(await exists(file));
      await rename(temp, file);
      await fsyncDir(dir);
      await this.#onStep?.('renamed', { temp, file });
      return { created, file };
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      throw err;
    } finally {
      this.#inFlight.delete(temp);
    }
  }

  async #remove(file: string): Promise<{ deleted: boolean; file: string }> {
    try {
      await unlink(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { deleted: false, file };
      throw err;
    }
    await fsyncDir(dirname(file));
    return { deleted: true, file };
  }
}

/**
 * Where a resource lives relative to a store's root (`meshtrafficpermissions/<mesh>/<name>.yaml`,
 * `access-roles/<name>.yaml`, …); throws StoreError for a type, name or mesh that could escape it.
 */
export function resourcePath(type: string, mesh: string | undefined, name: string): string {
  const sub = Object.hasOwn(STORE_DIRS, type) ? STORE_DIRS[type as StoredType] : undefined;
  if (sub === undefined)
    throw new StoreError('invalid-type', `type ${JSON.stringify(type)} cannot be stored`);
  checkName(name);
  if (type !== 'MeshTrafficPermission') return join(sub, `${name}.yaml`);
  const m = mesh ?? DEFAULT_MESH;
  checkMesh(m);
  return join(sub, m, `${name}.yaml`);
}

function checkName(name: unknown): void {
  if (typeof name !== 'string' || !RFC1123_SUBDOMAIN.test(name)) {
    throw new StoreError(
      'invalid-name',
      `name ${JSON.stringify(name)} is not a lowercase RFC 1123 subdomain`,
    );
  }
  if (name.length > MAX_STORED_NAME_LENGTH) {
    throw new StoreError(
      'invalid-name',
      `name is ${name.length} characters: at most ${MAX_STORED_NAME_LENGTH} can be stored`,
    );
  }
}

function checkMesh(mesh: unknown): void {
  if (typeof mesh !== 'string' || mesh.length > MAX_MESH_LENGTH || !MESH_NAME.test(mesh)) {
    throw new StoreError(
      'invalid-mesh',
      `mesh ${JSON.stringify(mesh)} must start with a lowercase letter or digit and hold only lowercase letters, digits, '-', '_' and '.'`,
    );
  }
}

/** The stored YAML: `type`, `name` and (for MeshTrafficPermission) `mesh` first, then the rest as given. */
export function serializeResource(resource: UniversalResource): string {
  const { type, name, mesh, ...rest } = resource;
  const head =
    type === 'MeshTrafficPermission'
      ? { type, name, mesh: mesh ?? DEFAULT_MESH }
      : { type, name, ...(mesh === undefined ? {} : { mesh }) };
  return stringify({ ...head, ...rest }, { aliasDuplicateObjects: false, lineWidth: 0 });
}

function basename(file: string): string {
  return file.slice(dirname(file).length + 1);
}

async function exists(file: string): Promise<boolean> {
  try {
    await lstat(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** mkdir -p, then fsync each directory it created and the parent of the first, so the new entries survive a crash. */
async function mkdirDurable(dir: string): Promise<void> {
  // Each missing level is created here: Node's recursive mkdir never settles under /proc.
  const missing: string[] = [];
  for (let d = resolve(dir); !(await exists(d)); d = dirname(d)) {
    missing.unshift(d);
    if (dirname(d) === d) break;
  }
  for (const m of missing) {
    await mkdir(m).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  }
  const first = missing[0];
  if (first !== undefined) for (const c of [...missing, dirname(first)]) await fsyncDir(c);
}
