/**
 * The cold-path loader: paths → files → documents → validated, typed resources. It reports every
 * violation of every file and never throws for bad content; a missing file is an issue too.
 */
import { POLICY_MESSAGES as M, sortIssues } from './errors.js';
import { findPolicyFiles, readPolicyFile } from './files.js';
import { fileIssue, parsePolicyText } from './parse.js';
import { currentStamp, stampOf, waitUntilSettled } from './settle.js';
import type {
  AccessRole,
  AccessRoleBinding,
  MeshResource,
  MeshTrafficPermission,
  PolicyIssue,
  PolicySet,
  Resource,
} from './types.js';
import { validateDocument } from './validate.js';

/** 4 MiB, the default of `--max-policy-file-bytes`. */
export const DEFAULT_MAX_POLICY_FILE_BYTES = 4 * 1024 * 1024;
/** 64 MiB, the default of `--max-policy-bytes`. */
export const DEFAULT_MAX_POLICY_BYTES = 64 * 1024 * 1024;

export interface LoadOptions {
  /** Files larger than this are refused without being read. */
  maxFileBytes: number;
  /** The whole set: once the files read add up to more, loading stops before anything is parsed. */
  maxTotalBytes: number;
  /** A changed file is read once its size and times stayed the same this long (settle.ts); 0: at once. */
  stabilityWindowMs?: number;
  /** Directories whose files are only replaced by rename (the admin state directory): read at once. */
  atomicPaths?: readonly string[];
}

export type LoadResult = (
  | { ok: true; set: PolicySet; files: string[] }
  | { ok: false; errors: PolicyIssue[]; warnings: PolicyIssue[]; files: string[] }
) & {
  /** Files that changed while they were read: the result must not be used; read again later. */
  changedWhileReading?: string[];
  /** Every file read and its stamp (loads with a ParseCache): equal fingerprints, the same files. */
  fingerprint?: string;
};

export const FILE_CHANGED_WHILE_READING = 'file changed while reading';

export interface PolicyText {
  readonly file: string;
  readonly text: string | Uint8Array;
  /** The file's stamp when it was read (settle.ts), remembered with its outcome. */
  readonly stamp?: string | undefined;
}

/** What one file contributed, before the cross-file duplicate check. */
interface FileOutcome {
  readonly errors: readonly PolicyIssue[];
  readonly warnings: readonly PolicyIssue[];
  readonly documents: readonly ReturnType<typeof validateDocument>[];
}

/**
 * Remembers each file's parsed and validated documents by its exact bytes, so a reload re-parses
 * only the files that changed (YAML parsing is the slow part of a load). Entries of files that are
 * gone are dropped at each load.
 */
export class ParseCache {
  readonly #entries = new Map<
    string,
    { readonly text: string | Uint8Array; readonly outcome: FileOutcome; stamp?: string | undefined }
  >();

  get size(): number {
    return this.#entries.size;
  }

  outcome(file: string, text: string | Uint8Array, parse: () => FileOutcome, stamp?: string): FileOutcome {
    const cached = this.#entries.get(file);
    if (cached !== undefined && sameText(cached.text, text)) {
      cached.stamp = stamp;
      return cached.outcome;
    }
    const outcome = parse();
    this.#entries.set(file, { text, outcome, stamp });
    return outcome;
  }

  /** The text read last time, when the file still has the stamp it had then (it need not be read again). */
  textWithStamp(file: string, stamp: string): string | Uint8Array | undefined {
    const cached = this.#entries.get(file);
    return cached?.stamp === stamp ? cached.text : undefined;
  }

  retainOnly(files: ReadonlySet<string>): void {
    for (const file of this.#entries.keys()) if (!files.has(file)) this.#entries.delete(file);
  }
}

function sameText(a: string | Uint8Array, b: string | Uint8Array): boolean {
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

function withDefaults(options: Partial<LoadOptions> | undefined): LoadOptions {
  return {
    ...options,
    maxFileBytes: options?.maxFileBytes ?? DEFAULT_MAX_POLICY_FILE_BYTES,
    maxTotalBytes: options?.maxTotalBytes ?? DEFAULT_MAX_POLICY_BYTES,
  };
}

/**
 * Reads every path (a file, or a directory read recursively for `*.yaml`, `*.yml`, `*.json`),
 * then validates everything together.
 */
export async function loadPolicies(
  paths: readonly string[],
  options?: Partial<LoadOptions>,
  cache?: ParseCache,
  /** Texts validated together with the files (`validate` of a ConfigMap manifest's data keys). */
  extraTexts: readonly PolicyText[] = [],
): Promise<LoadResult> {
  const opts = withDefaults(options);
  const found = await findPolicyFiles(paths);
  const stamps = new Map([...found.stats].map(([file, info]) => [file, stampOf(info)]));
  await waitUntilSettled(stamps, {
    windowMs: options?.stabilityWindowMs ?? 0,
    atomicPaths: options?.atomicPaths ?? [],
    known: (file, stamp) => cache?.textWithStamp(file, stamp) !== undefined,
  });
  const texts: PolicyText[] = [...extraTexts];
  const issues = [...found.issues];
  const changed: string[] = [];
  let total = 0;
  // Over the set's cap: loading stops here, before anything is parsed (that would be wasted work).
  const setTooLarge = (file: string, size: number): LoadResult => ({
    ok: false,
    errors: [fileIssue(file, M.policySetTooLarge(size, opts.maxTotalBytes))],
    warnings: [],
    files: found.files,
  });
  for (const file of found.files) {
    const stamp = stamps.get(file);
    const known = stamp === undefined ? undefined : cache?.textWithStamp(file, stamp);
    if (known !== undefined) {
      total += typeof known === 'string' ? Buffer.byteLength(known) : known.byteLength;
      if (total > opts.maxTotalBytes) return setTooLarge(file, total);
      texts.push({ file, text: known, stamp });
      continue;
    }
    // Never read more than what is left of the set's budget.
    const read = await readPolicyFile(
      file,
      Math.min(opts.maxFileBytes, Math.max(0, opts.maxTotalBytes - total)),
    );
    if ('issue' in read) {
      issues.push(read.issue);
      continue;
    }
    if ('tooLarge' in read) {
      if (read.tooLarge <= opts.maxFileBytes) return setTooLarge(file, total + read.tooLarge);
      issues.push(fileIssue(file, M.fileTooLarge(read.tooLarge, opts.maxFileBytes)));
      continue;
    }
    // Re-checked after reading: a writer that moved meanwhile gave us a mix of two versions.
    if (stamp !== undefined && (await currentStamp(file)) !== stamp) {
      changed.push(file);
      issues.push(fileIssue(file, FILE_CHANGED_WHILE_READING));
      continue;
    }
    total += read.bytes.byteLength;
    texts.push({ file, text: read.bytes, stamp });
  }
  cache?.retainOnly(new Set(texts.map((t) => t.file)));
  const assembled = assemble(
    texts,
    issues,
    opts,
    [...extraTexts.map((t) => t.file), ...found.files],
    cache,
    found.warnings,
  );
  // Repeated loads (those with a cache) tell whether anything changed since the last one.
  const result =
    cache === undefined
      ? assembled
      : { ...assembled, fingerprint: [...stamps].map(([file, stamp]) => `${file}\0${stamp}`).join('\n') };
  return changed.length === 0 ? result : { ...result, changedWhileReading: changed };
}

/** The same pipeline on in-memory texts (tests; the admin API validating a body before writing it). */
export function loadPolicyTexts(files: readonly PolicyText[], options?: Partial<LoadOptions>): LoadResult {
  return assemble(
    files,
    [],
    withDefaults(options),
    files.map((f) => f.file),
  );
}

function assemble(
  texts: readonly PolicyText[],
  fileIssues: readonly PolicyIssue[],
  options: LoadOptions,
  files: string[],
  cache?: ParseCache,
  fileWarnings: readonly PolicyIssue[] = [],
): LoadResult {
  const errors: PolicyIssue[] = [...fileIssues];
  const warnings: PolicyIssue[] = [...fileWarnings];
  const resources: Resource[] = [];
  const firstByKey = new Map<string, Resource>();

  for (const { file, text, stamp } of texts) {
    const read = (): FileOutcome => readFile(file, text, options);
    const outcome = cache === undefined ? read() : cache.outcome(file, text, read, stamp);
    errors.push(...outcome.errors);
    warnings.push(...outcome.warnings);
    for (const result of outcome.documents) {
      errors.push(...result.errors);
      warnings.push(...result.warnings);
      const resource = result.resource;
      if (resource === undefined) continue;
      const key = uniquenessKey(resource);
      const first = firstByKey.get(key);
      if (first !== undefined) {
        const at = `${first.source.file}:${first.source.line}:${first.source.col}`;
        const mesh = resource.type === 'MeshTrafficPermission' ? resource.mesh : undefined;
        errors.push({
          file,
          ...result.namePos,
          path: 'name',
          message: M.duplicateName(resource.type, resource.name, mesh, at),
        });
        continue;
      }
      firstByKey.set(key, resource);
      resources.push(resource);
    }
  }

  if (errors.length > 0)
    return { ok: false, errors: sortIssues(errors), warnings: sortIssues(warnings), files };
  return { ok: true, set: toPolicySet(resources, sortIssues(warnings)), files };
}

function readFile(file: string, text: string | Uint8Array, options: LoadOptions): FileOutcome {
  const parsed = parsePolicyText(file, text, options);
  return {
    errors: parsed.errors,
    warnings: parsed.warnings,
    documents: parsed.documents.map(validateDocument),
  };
}

/** Names are unique per (type, mesh); Mesh, AccessRole and AccessRoleBinding are global. */
function uniquenessKey(r: Resource): string {
  return r.type === 'MeshTrafficPermission' ? `${r.type}\0${r.mesh}\0${r.name}` : `${r.type}\0${r.name}`;
}

function toPolicySet(resources: readonly Resource[], warnings: PolicyIssue[]): PolicySet {
  const policies: MeshTrafficPermission[] = [];
  const meshes: MeshResource[] = [];
  const accessRoles: AccessRole[] = [];
  const accessRoleBindings: AccessRoleBinding[] = [];
  for (const r of resources) {
    if (r.type === 'MeshTrafficPermission') policies.push(r);
    else if (r.type === 'Mesh') meshes.push(r);
    else if (r.type === 'AccessRole') accessRoles.push(r);
    else accessRoleBindings.push(r);
  }
  return { policies, meshes, accessRoles, accessRoleBindings, warnings };
}
