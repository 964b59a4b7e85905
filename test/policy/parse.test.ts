import { describe, expect, it } from 'vitest';
import { formatIssue } from '../../src/policy/errors.js';
import {
  type LMap,
  type LNode,
  MAX_ALIAS_COUNT,
  type ParseResult,
  parsePolicyText,
} from '../../src/policy/parse.js';
import { firstInvalidUtf8Byte } from '../../src/policy/yaml-guards.js';

const parse = (text: string | Uint8Array, maxFileBytes = 1 << 20): ParseResult =>
  parsePolicyText('f.yaml', text, { maxFileBytes });
const errors = (r: ParseResult): string[] => r.errors.map(formatIssue);

function root(r: ParseResult, index = 0): LNode {
  const doc = r.documents[index];
  if (doc === undefined) throw new Error(`no document ${index}: ${errors(r).join('; ')}`);
  return doc.root;
}
const rootMap = (r: ParseResult, index = 0): LMap => root(r, index) as LMap;

/** The plain value of a located node, for comparisons. */
function plain(node: LNode): unknown {
  if (node.kind === 'scalar') return node.value;
  if (node.kind === 'seq') return node.items.map(plain);
  return Object.fromEntries([...node.entries.values()].map((e) => [e.key, plain(e.value)]));
}

describe('parsePolicyText', () => {
  it('splits documents, skips empty ones and keeps each node position', () => {
    const r = parse('---\n# nothing\n---\na: 1\nb:\n  - x\n  - {c: true}\n---\n---\n"q": ~\n');
    expect(errors(r)).toEqual([]);
    expect(r.documents.map((d) => [d.index, plain(d.root)])).toEqual([
      [1, { a: 1, b: ['x', { c: true }] }],
      [3, { q: null }],
    ]);
    const map = rootMap(r);
    expect(map.pos).toEqual({ line: 4, col: 1 });
    const b = map.entries.get('b');
    expect(b?.keyPos).toEqual({ line: 5, col: 1 });
    expect(b?.value.pos).toEqual({ line: 6, col: 3 });
    const c = b?.value.kind === 'seq' ? (b.value.items[1] as LMap).entries.get('c') : undefined;
    expect(c?.value.pos).toEqual({ line: 7, col: 9 });
  });

  it('parses JSON as YAML, with positions', () => {
    const r = parse('{\n  "name": "x",\n  "n": [1, 2.5, null, false]\n}\n');
    expect(plain(root(r))).toEqual({ name: 'x', n: [1, 2.5, null, false] });
    expect(rootMap(r).entries.get('n')?.value.pos).toEqual({ line: 3, col: 8 });
  });

  it('strips a byte order mark from bytes and from strings', () => {
    const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode('a: 1\n')]);
    for (const input of [bom, '\uFEFFa: 1\n']) {
      const r = parse(input);
      expect(errors(r)).toEqual([]);
      expect(rootMap(r).entries.get('a')?.keyPos).toEqual({ line: 1, col: 1 });
    }
  });

  it('reports invalid UTF-8 at its line and column (in characters)', () => {
    const bytes = new Uint8Array([...new TextEncoder().encode('a: 1\nb: "été'), 0xff, 0x22, 0x0a]);
    expect(errors(parse(bytes))).toEqual([
      'f.yaml:2:8: file: file is not valid UTF-8: invalid byte sequence at byte offset 14',
    ]);
  });

  it('finds the first ill-formed UTF-8 sequence', () => {
    const at = (...bytes: number[]): number => firstInvalidUtf8Byte(new Uint8Array(bytes));
    expect(at(0x61, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80)).toBe(-1);
    expect(at(0x61, 0xc0, 0x80)).toBe(1); // overlong NUL
    expect(at(0x61, 0xe0, 0x80, 0x80)).toBe(1); // overlong 3-byte
    expect(at(0xed, 0xa0, 0x80)).toBe(0); // UTF-16 surrogate
    expect(at(0xf4, 0x90, 0x80, 0x80)).toBe(0); // above U+10FFFF
    expect(at(0xf5, 0x80, 0x80, 0x80)).toBe(0);
    expect(at(0x61, 0x62, 0xe2, 0x82)).toBe(2); // truncated at the end
    expect(at(0x80)).toBe(0); // lone continuation byte
  });

  it('refuses input over the size limit, counted in bytes', () => {
    expect(errors(parse('é'.repeat(6), 11))).toEqual([
      'f.yaml:1:1: file: file is 12 bytes, over the limit of 11 bytes (--max-policy-file-bytes)',
    ]);
    expect(errors(parse('é'.repeat(6), 12))).toEqual([]);
  });

  it("reports YAML errors with the yaml library's message and position, and keeps other documents", () => {
    const r = parse('a: 1\n---\nb: [1, 2\n---\nc: 3\n');
    expect(errors(r)).toEqual([
      'f.yaml:4:1: yaml: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ]);
    expect(r.documents.map((d) => plain(d.root))).toEqual([{ a: 1 }, { c: 3 }]);
  });

  it('reports duplicate keys, also when they only collide as strings', () => {
    expect(errors(parse('a: 1\na: 2\n'))).toEqual([
      'f.yaml:2:1: yaml: Map keys must be unique: "a" appears more than once',
    ]);
    expect(errors(parse('1: a\n"1": b\n'))).toEqual([
      'f.yaml:2:1: yaml: Map keys must be unique: "1" appears more than once',
    ]);
  });

  it('checks duplicate keys in linear time (a flat map of many keys is not a hazard)', () => {
    const text = Array.from({ length: 20_000 }, (_, i) => `k${i}: v`).join('\n');
    const started = Date.now();
    expect(errors(parse(text))).toEqual([]);
    expect(errors(parse(`${text}\nk7: again`))).toEqual([
      'f.yaml:20001:1: yaml: Map keys must be unique: "k7" appears more than once',
    ]);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('turns scalar keys into strings as written and refuses collection keys', () => {
    const r = parse('1.0: a\ntrue: b\n~: c\n');
    expect(plain(root(r))).toEqual({ '1.0': 'a', true: 'b', '': 'c' });
    expect(errors(parse('? [a, b]\n: c\n'))).toEqual([
      'f.yaml:1:3: yaml: map keys must be strings, not collections',
    ]);
  });

  it('expands aliases, reporting their content at the alias', () => {
    const r = parse('tags: &t {env: prod}\nfrom:\n  - *t\n  - *t\n');
    expect(plain(root(r))).toEqual({
      tags: { env: 'prod' },
      from: [{ env: 'prod' }, { env: 'prod' }],
    });
    const from = rootMap(r).entries.get('from')?.value;
    expect(from?.kind === 'seq' && from.items[1]?.pos).toEqual({ line: 4, col: 5 });
  });

  it('stops alias expansion after the alias budget, at the alias written in the document', () => {
    const ok = `a: &a x\nb: [${Array(MAX_ALIAS_COUNT).fill('*a').join(', ')}]\n`;
    expect(errors(parse(ok))).toEqual([]);
    const over = `a: &a x\nb: [${Array(MAX_ALIAS_COUNT + 1)
      .fill('*a')
      .join(', ')}]\n`;
    expect(errors(parse(over))).toEqual([
      `f.yaml:2:${5 + MAX_ALIAS_COUNT * 4}: yaml: Excessive alias count indicates a resource exhaustion attack`,
    ]);
  });

  it('stops a few aliases that expand to a huge tree', () => {
    const wide = `a: &a [${Array(4000).fill('x').join(',')}]\nb: [*a, *a, *a]\n`;
    expect(errors(parse(wide))).toEqual([
      'f.yaml:2:13: yaml: Excessive alias count indicates a resource exhaustion attack',
    ]);
  });

  it('survives a recursive alias', () => {
    expect(errors(parse('a: &a [*a]\n'))).toHaveLength(1);
  });

  it('reports deep nesting without exhausting the stack, and quickly', () => {
    const started = Date.now();
    for (const depth of [65, 1_000, 5_000_000]) {
      const r = parse(`a: ${'['.repeat(depth)}${']'.repeat(depth)}\n`);
      expect(r.errors.length, `depth ${depth}`).toBeGreaterThan(0);
      expect(r.documents).toEqual([]);
    }
    const block = Array.from({ length: 1_000 }, (_, i) => `${' '.repeat(i)}k:`).join('\n');
    expect(parse(block).errors.length).toBeGreaterThan(0);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(errors(parse(`a: ${'['.repeat(60)}${']'.repeat(60)}\n`))).toEqual([]);
  });

  it('refuses a tag the core schema does not know, on scalars and collections alike', () => {
    const r = parse('a: !custom x\nb: !!str fine\nc: !other {d: 1}\n');
    expect(r.errors.map(formatIssue)).toEqual([
      'f.yaml:1:4: yaml: unknown YAML tag "!custom": only the YAML core schema\'s tags are accepted',
      'f.yaml:3:4: yaml: unknown YAML tag "!other": only the YAML core schema\'s tags are accepted',
    ]);
    expect(r.documents).toEqual([]);
    expect(errors(parse('a: !!str x\nb: !!int 3\n'))).toEqual([]);
  });

  it('gives an empty file no document and no issue', () => {
    for (const text of ['', '\n', '# only a comment\n', '---\n', '--- ~\n']) {
      expect(parse(text)).toEqual({ documents: [], errors: [], warnings: [] });
    }
  });
});
