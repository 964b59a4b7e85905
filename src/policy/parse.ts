/**
 * Bytes → text → YAML documents → located nodes. Every YAML hazard (oversized input, invalid
 * UTF-8, syntax errors, duplicate keys, alias bombs, deep nesting) becomes an issue with a
 * position; nothing here throws for bad content. JSON is parsed as YAML 1.2 so it gets positions too.
 */
import {
  Composer,
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  Parser,
  type Node as YamlNode,
} from 'yaml';
import { POLICY_MESSAGES as M } from './errors.js';
import type { PolicyIssue, Pos } from './types.js';

export type { Pos } from './types.js';
import { decodeUtf8, firstDeepBracket, firstTooDeep, offsetPos } from './yaml-guards.js';

export type ScalarValue = string | number | boolean | null;

export interface LScalar {
  readonly kind: 'scalar';
  readonly pos: Pos;
  readonly value: ScalarValue;
}

export interface LEntry {
  readonly key: string;
  readonly keyPos: Pos;
  readonly value: LNode;
}

export interface LMap {
  readonly kind: 'map';
  readonly pos: Pos;
  /** In document order. */
  readonly entries: ReadonlyMap<string, LEntry>;
}

export interface LSeq {
  readonly kind: 'seq';
  readonly pos: Pos;
  readonly items: readonly LNode[];
}

/** A YAML node reduced to JSON's data model, with the position it was written at. */
export type LNode = LMap | LSeq | LScalar;

export interface ParsedDocument {
  readonly file: string;
  /** Zero-based index of the document in its file. */
  readonly index: number;
  readonly root: LNode;
}

export interface ParseResult {
  readonly documents: ParsedDocument[];
  readonly errors: PolicyIssue[];
  readonly warnings: PolicyIssue[];
}

export interface ParseOptions {
  readonly maxFileBytes: number;
}

/** Aliases resolved per document, as the yaml library's own `maxAliasCount` default. */
export const MAX_ALIAS_COUNT = 100;
/** Nodes produced by alias expansion per document. */
const MAX_ALIAS_NODES = 10_000;
/** Policies nest about 8 levels deep; anything near this limit is an attack or a mistake. */
export const MAX_NESTING_DEPTH = 64;
/** Unbalanced `[` / `{` beyond which the input is refused before parsing. */
const MAX_RAW_BRACKET_DEPTH = 1_000;

const START: Pos = { line: 1, col: 1 };

export function fileIssue(file: string, message: string, pos: Pos = START): PolicyIssue {
  return { file, line: pos.line, col: pos.col, path: 'file', message };
}

/** Parses one file's content. */
export function parsePolicyText(file: string, data: string | Uint8Array, options: ParseOptions): ParseResult {
  const result: ParseResult = { documents: [], errors: [], warnings: [] };
  const size = typeof data === 'string' ? Buffer.byteLength(data, 'utf8') : data.byteLength;
  if (size > options.maxFileBytes) {
    result.errors.push(fileIssue(file, M.fileTooLarge(size, options.maxFileBytes)));
    return result;
  }
  const decoded = typeof data === 'string' ? { text: data.replace(/^\uFEFF/, '') } : decodeUtf8(data);
  if ('invalidAt' in decoded) {
    result.errors.push(fileIssue(file, M.invalidUtf8(decoded.invalidAt), decoded.pos));
    return result;
  }

  const lineCounter = new LineCounter();
  const at = (offset: number | undefined): Pos => linePos(lineCounter, offset);
  let docs: Document.Parsed[];
  try {
    // The parser is iterative; the composer recurses. Bound the depth before composing, or a
    // deeply nested input exhausts the stack (or worse: V8 aborts compiling a RegExp near the limit).
    const bracketed = firstDeepBracket(decoded.text, MAX_RAW_BRACKET_DEPTH);
    if (bracketed !== undefined) {
      result.errors.push(yamlIssue(file, offsetPos(decoded.text, bracketed), M.tooDeep(MAX_NESTING_DEPTH)));
      return result;
    }
    const tokens = [...new Parser(lineCounter.addNewLine).parse(decoded.text)];
    const tooDeep = firstTooDeep(tokens, MAX_NESTING_DEPTH);
    if (tooDeep !== undefined) {
      result.errors.push(yamlIssue(file, at(tooDeep), M.tooDeep(MAX_NESTING_DEPTH)));
      return result;
    }
    docs = [...new Composer({ prettyErrors: false, uniqueKeys: false }).compose(tokens)] as Document.Parsed[];
  } catch (error) {
    result.errors.push({ ...fileIssue(file, String((error as Error).message ?? error)), path: 'yaml' });
    return result;
  }

  docs.forEach((doc, index) => {
    let unknownTags = false;
    for (const w of doc.warnings) {
      // A tag the schema does not know would be read as a plain string: refused, not guessed at.
      if (w.code === 'TAG_RESOLVE_FAILED') {
        unknownTags = true;
        const tag = /: (\S+)$/.exec(w.message)?.[1] ?? w.message;
        result.errors.push(yamlIssue(file, at(w.pos[0]), M.unknownTag(tag)));
      } else result.warnings.push(yamlIssue(file, at(w.pos[0]), w.message));
    }
    if (doc.errors.length > 0 || unknownTags) {
      for (const e of doc.errors) result.errors.push(yamlIssue(file, at(e.pos[0]), e.message));
      return;
    }
    const contents = doc.contents;
    if (contents === null || (isScalar(contents) && contents.value === null)) return; // empty document
    try {
      const root = new Converter(doc, at).convert(contents, 0);
      result.documents.push({ file, index, root });
    } catch (error) {
      if (!(error instanceof ConvertError)) throw error;
      result.errors.push(yamlIssue(file, error.pos, error.message));
    }
  });
  return result;
}

function yamlIssue(file: string, pos: Pos, message: string): PolicyIssue {
  return { file, line: pos.line, col: pos.col, path: 'yaml', message };
}

function linePos(lineCounter: LineCounter, offset: number | undefined): Pos {
  if (offset === undefined) return START;
  const { line, col } = lineCounter.linePos(offset);
  return line === 0 ? { line: 1, col: offset + 1 } : { line, col };
}

// --- YAML nodes → located nodes ----------------------------------------------------------

class ConvertError extends Error {
  constructor(
    readonly pos: Pos,
    message: string,
  ) {
    super(message);
  }
}

/** Converts one document, expanding aliases within a budget. */
class Converter {
  private aliases = 0;
  private aliasNodes = 0;
  /** Position of the alias being expanded, if any. */
  private outerAlias: Pos | undefined;

  constructor(
    private readonly doc: Document.Parsed,
    private readonly at: (offset: number | undefined) => Pos,
  ) {}

  convert(node: unknown, depth: number, posOverride?: Pos): LNode {
    if (depth > MAX_NESTING_DEPTH) throw new ConvertError(this.posOf(node), M.tooDeep(MAX_NESTING_DEPTH));
    const pos = posOverride ?? this.posOf(node);
    if (this.outerAlias !== undefined && ++this.aliasNodes > MAX_ALIAS_NODES) {
      throw new ConvertError(this.outerAlias, M.aliasBomb);
    }
    if (isAlias(node)) {
      // Report a budget overrun at the alias written outside any expansion: the one to look at.
      const outermost = this.outerAlias === undefined;
      if (outermost) this.outerAlias = pos;
      if (++this.aliases > MAX_ALIAS_COUNT) throw new ConvertError(this.outerAlias ?? pos, M.aliasBomb);
      try {
        return this.convert(node.resolve(this.doc) ?? null, depth + 1, pos);
      } finally {
        if (outermost) this.outerAlias = undefined;
      }
    }
    if (isMap(node)) {
      const entries = new Map<string, LEntry>();
      for (const pair of node.items) {
        const keyPos = pair.key === null ? pos : this.posOf(pair.key);
        const key = this.keyText(pair.key, depth, keyPos);
        if (entries.has(key)) throw new ConvertError(keyPos, M.duplicateKey(key));
        entries.set(key, { key, keyPos, value: this.convert(pair.value ?? null, depth + 1) });
      }
      return { kind: 'map', pos, entries };
    }
    if (isSeq(node)) {
      return { kind: 'seq', pos, items: node.items.map((item) => this.convert(item ?? null, depth + 1)) };
    }
    if (isScalar(node)) return { kind: 'scalar', pos, value: scalarValue(node.value, node.source) };
    return { kind: 'scalar', pos, value: null };
  }

  private keyText(key: unknown, depth: number, pos: Pos): string {
    const node = this.convert(key, depth + 1, pos);
    if (node.kind !== 'scalar') throw new ConvertError(pos, M.keyNotScalar);
    if (node.value === null) return '';
    if (isScalar(key) && typeof key.value !== 'string' && typeof key.source === 'string') return key.source;
    return String(node.value);
  }

  private posOf(node: unknown): Pos {
    const range = (node as YamlNode | null)?.range;
    return this.at(range?.[0]);
  }
}

function scalarValue(value: unknown, source: string | undefined): ScalarValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  return source ?? String(value);
}
