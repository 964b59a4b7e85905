/**
 * Shared plumbing of the validators: where findings are collected, how field paths are built,
 * and typed accessors over located nodes that report schema-level (type / enum / required)
 * problems as they go.
 */
import { POLICY_MESSAGES as M } from './errors.js';
import type { LEntry, LMap, LNode, LScalar, LSeq, Pos } from './parse.js';
import type { PolicyIssue } from './types.js';

/**
 * Issues of one document. Schema-level errors are kept apart from rule errors: when a document has
 * any schema error its rule errors are dropped, as Kuma does.
 */
export class Findings {
  readonly schemaErrors: PolicyIssue[] = [];
  readonly ruleErrors: PolicyIssue[] = [];
  readonly warnings: PolicyIssue[] = [];

  constructor(readonly file: string) {}

  schema(path: string, pos: Pos, message: string): void {
    this.schemaErrors.push(this.issue(path, pos, message));
  }

  rule(path: string, pos: Pos, message: string): void {
    this.ruleErrors.push(this.issue(path, pos, message));
  }

  warn(path: string, pos: Pos, message: string): void {
    this.warnings.push(this.issue(path, pos, message));
  }

  /** The errors to report: schema errors alone when there are any, else the rule errors. */
  errors(): PolicyIssue[] {
    return this.schemaErrors.length > 0 ? this.schemaErrors : this.ruleErrors;
  }

  private issue(path: string, pos: Pos, message: string): PolicyIssue {
    return { file: this.file, line: pos.line, col: pos.col, path, message };
  }
}

// --- field paths: `spec.from[0].targetRef.tags["env"]` --------------------------------------

export const fieldPath = (base: string, name: string): string => (base === '' ? name : `${base}.${name}`);
export const indexPath = (base: string, index: number): string => `${base}[${index}]`;
export const keyPath = (base: string, key: string): string => `${base}[${JSON.stringify(key)}]`;

// --- typed access ----------------------------------------------------------------------------

/** The JSON type name of a node, as Kubernetes prints it in type errors. */
export function jsonType(node: LNode): string {
  if (node.kind === 'map') return 'object';
  if (node.kind === 'seq') return 'array';
  return node.value === null ? 'null' : typeof node.value;
}

/** A field of a mapping; `key: null` (or `key:` with nothing) counts as absent, as Kubernetes prunes nulls. */
export function entry(map: LMap | undefined, key: string): LEntry | undefined {
  const found = map?.entries.get(key);
  if (found === undefined) return undefined;
  return found.value.kind === 'scalar' && found.value.value === null ? undefined : found;
}

export function asMap(f: Findings, node: LNode, path: string): LMap | undefined {
  if (node.kind === 'map') return node;
  f.schema(path, node.pos, M.wrongType('object', jsonType(node)));
  return undefined;
}

export function asSeq(f: Findings, node: LNode, path: string): LSeq | undefined {
  if (node.kind === 'seq') return node;
  f.schema(path, node.pos, M.wrongType('array', jsonType(node)));
  return undefined;
}

export type LString = LScalar & { readonly value: string };

export function asString(f: Findings, node: LNode, path: string): LString | undefined {
  if (node.kind === 'scalar' && typeof node.value === 'string') return node as LString;
  f.schema(path, node.pos, M.wrongType('string', jsonType(node)));
  return undefined;
}

/** A string that must be one of `values`. */
export function asEnum<T extends string>(
  f: Findings,
  node: LNode,
  path: string,
  values: readonly T[],
): T | undefined {
  const s = asString(f, node, path);
  if (s === undefined) return undefined;
  if ((values as readonly string[]).includes(s.value)) return s.value as T;
  f.schema(path, s.pos, M.notOneOf(values));
  return undefined;
}

/** The string field `key` of `map`, or undefined (absent, or reported as a wrong type). */
export function stringField(
  f: Findings,
  map: LMap | undefined,
  key: string,
  base: string,
): LString | undefined {
  const e = entry(map, key);
  return e === undefined ? undefined : asString(f, e.value, fieldPath(base, key));
}

export interface StringMap {
  readonly node: LMap;
  readonly values: Record<string, string>;
  /** Every entry, including those whose value was not a string. */
  readonly entries: readonly LEntry[];
}

/** A `{string: string}` mapping (tags, labels); non-string values are type errors at `path["k"]`. */
export function asStringMap(f: Findings, node: LNode, path: string): StringMap | undefined {
  const map = asMap(f, node, path);
  if (map === undefined) return undefined;
  // No prototype: any key a user writes (`__proto__`, `constructor`) is just a key.
  const values = Object.create(null) as Record<string, string>;
  for (const e of map.entries.values()) {
    const s = asString(f, e.value, keyPath(path, e.key));
    if (s !== undefined) values[e.key] = s.value;
  }
  return { node: map, values, entries: [...map.entries.values()] };
}

/** A list of strings; returns the valid items with their positions. */
export function asStringList(f: Findings, node: LNode, path: string): LString[] | undefined {
  const seq = asSeq(f, node, path);
  if (seq === undefined) return undefined;
  const out: LString[] = [];
  seq.items.forEach((item, i) => {
    const s = asString(f, item, indexPath(path, i));
    if (s !== undefined) out.push(s);
  });
  return out;
}

/** Reports every key of `map` not in `known`, as a warning or as an error. */
export function checkUnknownFields(
  f: Findings,
  map: LMap,
  base: string,
  known: readonly string[],
  severity: 'warning' | 'error',
): void {
  for (const e of map.entries.values()) {
    if (known.includes(e.key)) continue;
    if (severity === 'warning') f.warn(fieldPath(base, e.key), e.keyPos, M.unknownFieldIgnored);
    else f.schema(fieldPath(base, e.key), e.keyPos, M.unknownField);
  }
}
