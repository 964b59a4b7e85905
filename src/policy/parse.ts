/**
 * Bytes → text → YAML documents → located nodes. Every YAML hazard (oversized input, invalid
 * UTF-8, syntax errors, duplicate keys, alias bombs, deep nesting) becomes an issue with a
 * position; nothing here throws for bad content. JSON is parsed as YAML 1.2 so it gets positions too.
 */
import {
  Composer,
  type CST,
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  Parser,
  type Node as YamlNode,
} from 'yaml';
import { POLICY_MESSAGES as M } from '../errors.js';
import type { PolicyIssue } from './types.js';

/** One-based line and column. */
export interface Pos {
  readonly line: number;
  readonly col: number;
}

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
  const decoded = typeof data === 'string' ? { text: data.replace(/^\uFEFF/, '') } : decodeUtf8(file, data);
  if ('issue' in decoded) {
    result.errors.push(decoded.issue);
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
      const pos = new LineCounter();
      for (
        let i = decoded.text.indexOf('\n');
        i !== -1 && i < bracketed;
        i = decoded.text.indexOf('\n', i + 1)
      ) {
        pos.addNewLine(i + 1);
      }
      result.errors.push(yamlIssue(file, linePos(pos, bracketed), M.tooDeep(MAX_NESTING_DEPTH)));
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
    for (const w of doc.warnings) result.warnings.push(yamlIssue(file, at(w.pos[0]), w.message));
    if (doc.errors.length > 0) {
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

/**
 * A linear pre-check that spares the parser (whose cost grows steeply with nesting) inputs
 * that are obviously far too deep: brackets are counted without regard to quoting, so only a
 * depth no policy comes near is refused here; the exact check runs on the parsed tree.
 */
function firstDeepBracket(text: string, limit: number): number | undefined {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return i;
    } else if ((c === 0x5d || c === 0x7d) && depth > 0) depth--;
  }
  return undefined;
}

/** Offset of the first CST node nested deeper than `limit` collections, walking without recursion. */
function firstTooDeep(tokens: readonly CST.Token[], limit: number): number | undefined {
  const stack: [CST.Token, number][] = tokens.map((t) => [t, 0]);
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [token, depth] = next;
    if (token.type === 'document') {
      if (token.value) stack.push([token.value, depth]);
    } else if (token.type === 'block-map' || token.type === 'block-seq' || token.type === 'flow-collection') {
      if (depth >= limit) return token.offset;
      for (const item of token.items) {
        if ('key' in item && item.key) stack.push([item.key, depth + 1]);
        if (item.value) stack.push([item.value, depth + 1]);
      }
    }
  }
  return undefined;
}

// --- UTF-8 -------------------------------------------------------------------------------

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const lenientUtf8 = new TextDecoder('utf-8');

function decodeUtf8(file: string, bytes: Uint8Array): { text: string } | { issue: PolicyIssue } {
  try {
    return { text: strictUtf8.decode(bytes) };
  } catch {
    const offset = firstInvalidUtf8Byte(bytes);
    const lineStart = bytes.lastIndexOf(0x0a, offset - 1) + 1;
    let line = 1;
    for (let i = 0; i < lineStart; i++) if (bytes[i] === 0x0a) line++;
    const col = lenientUtf8.decode(bytes.subarray(lineStart, offset)).replace(/^\uFEFF/, '').length + 1;
    return { issue: fileIssue(file, M.invalidUtf8(offset), { line, col }) };
  }
}

/** Offset of the first byte that does not start a well-formed UTF-8 sequence (RFC 3629). */
export function firstInvalidUtf8Byte(bytes: Uint8Array): number {
  let i = 0;
  const cont = (at: number, lo = 0x80, hi = 0xbf): boolean => {
    const b = bytes[at];
    return b !== undefined && b >= lo && b <= hi;
  };
  while (i < bytes.length) {
    const b = bytes[i] as number;
    if (b < 0x80) i += 1;
    else if (b >= 0xc2 && b <= 0xdf && cont(i + 1)) i += 2;
    else if (b === 0xe0 && cont(i + 1, 0xa0) && cont(i + 2)) i += 3;
    else if (((b >= 0xe1 && b <= 0xec) || b === 0xee || b === 0xef) && cont(i + 1) && cont(i + 2)) i += 3;
    else if (b === 0xed && cont(i + 1, 0x80, 0x9f) && cont(i + 2)) i += 3;
    else if (b === 0xf0 && cont(i + 1, 0x90) && cont(i + 2) && cont(i + 3)) i += 4;
    else if (b >= 0xf1 && b <= 0xf3 && cont(i + 1) && cont(i + 2) && cont(i + 3)) i += 4;
    else if (b === 0xf4 && cont(i + 1, 0x80, 0x8f) && cont(i + 2) && cont(i + 3)) i += 4;
    else return i;
  }
  return -1;
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
