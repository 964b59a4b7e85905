/**
 * The cold-path loader: paths → files → documents → validated, typed resources. It reports every
 * violation of every file and never throws for bad content; a missing file is an issue too.
 */
import { POLICY_MESSAGES as M, sortIssues } from '../errors.js';
import { findPolicyFiles, readPolicyFile } from './files.js';
import { parsePolicyText } from './parse.js';
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

export interface LoadOptions {
  /** Files larger than this are refused without being read. */
  maxFileBytes: number;
}

export type LoadResult =
  | { ok: true; set: PolicySet; files: string[] }
  | { ok: false; errors: PolicyIssue[]; warnings: PolicyIssue[]; files: string[] };

export interface PolicyText {
  readonly file: string;
  readonly text: string | Uint8Array;
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
    { readonly text: string | Uint8Array; readonly outcome: FileOutcome }
  >();

  get size(): number {
    return this.#entries.size;
  }

  outcome(file: string, text: string | Uint8Array, parse: () => FileOutcome): FileOutcome {
    const cached = this.#entries.get(file);
    if (cached !== undefined && sameText(cached.text, text)) return cached.outcome;
    const outcome = parse();
    this.#entries.set(file, { text, outcome });
    return outcome;
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
  return { maxFileBytes: options?.maxFileBytes ?? DEFAULT_MAX_POLICY_FILE_BYTES };
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
  const texts: PolicyText[] = [...extraTexts];
  const issues = [...found.issues];
  for (const file of found.files) {
    const read = await readPolicyFile(file, opts.maxFileBytes);
    if ('issue' in read) issues.push(read.issue);
    else texts.push({ file, text: read.bytes });
  }
  cache?.retainOnly(new Set(texts.map((t) => t.file)));
  return assemble(
    texts,
    issues,
    opts,
    [...extraTexts.map((t) => t.file), ...found.files],
    cache,
    found.warnings,
  );
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

  for (const { file, text } of texts) {
    const read = (): FileOutcome => readFile(file, text, options);
    const outcome = cache === undefined ? read() : cache.outcome(file, text, read);
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
