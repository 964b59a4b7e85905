/**
 * One fixture per failure mode under test/fixtures/invalid/: a file (or a directory of files)
 * and, beside it, `<name>.expected` with exactly the lines a user sees — errors as printed,
 * warnings prefixed with `warning: `. Regenerate with `UPDATE_EXPECTED=1 npx vitest run test/policy`
 * and review the diff.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatIssue, POLICY_MESSAGES } from '../../src/policy/errors.js';
import { loadPolicies, loadPolicyTexts } from '../../src/policy/load.js';

const INVALID = 'test/fixtures/invalid';
const update = process.env.UPDATE_EXPECTED === '1';

const cases = readdirSync(INVALID, { withFileTypes: true })
  .filter((e) => e.isDirectory() || /\.(ya?ml|json)$/.test(e.name))
  .map((e) => e.name)
  .sort();

async function render(name: string): Promise<string> {
  const result = await loadPolicies([join(INVALID, name)]);
  expect(result.ok, `${name} should not load`).toBe(false);
  if (result.ok) return '';
  const lines = [
    ...result.errors.map(formatIssue),
    ...result.warnings.map((w) => `warning: ${formatIssue(w)}`),
  ];
  return `${lines.map((l) => l.replaceAll(`${INVALID}/`, '')).join('\n')}\n`;
}

describe('invalid fixtures', () => {
  it('has an .expected file for every fixture and a fixture for every .expected file', () => {
    const expected = readdirSync(INVALID).filter((n) => n.endsWith('.expected'));
    const stems = new Set(cases.map((c) => c.replace(/\.(ya?ml|json)$/, '')));
    expect(expected.filter((n) => !stems.has(n.replace(/\.expected$/, '')))).toEqual([]);
    if (!update) expect(cases.filter((c) => !existsSync(expectedPath(c)))).toEqual([]);
  });

  it.each(cases)('%s', async (name) => {
    const actual = await render(name);
    if (update) writeFileSync(expectedPath(name), actual);
    expect(actual).toBe(readFileSync(expectedPath(name), 'utf8'));
  });
});

describe('the message table', () => {
  // Every message must be produced somewhere a test asserts it: an .expected file or a test file.
  const corpus = [
    ...readdirSync(INVALID)
      .filter((n) => n.endsWith('.expected'))
      .map((n) => readFileSync(join(INVALID, n), 'utf8')),
    ...['parse', 'load', 'validate', 'configmap'].map((t) =>
      readFileSync(`test/policy/${t}.test.ts`, 'utf8'),
    ),
  ].join('\n');
  /** Messages this suite cannot provoke portably (an errno other than the common ones). */
  const untested = new Set(['unreadable']);

  it.each(Object.keys(POLICY_MESSAGES))('%s is asserted by a test', (code) => {
    if (untested.has(code)) return;
    const template = POLICY_MESSAGES[code as keyof typeof POLICY_MESSAGES];
    const SENTINEL = '\u0001';
    const rendered =
      typeof template === 'string'
        ? template
        : // A one-element array prints as its element and also serves where a list is expected.
          (template as (...args: unknown[]) => string)(
            ...Array.from({ length: template.length }, () => [SENTINEL]),
          ).replaceAll(`[${SENTINEL}]`, SENTINEL);
    const pattern = rendered
      .split(SENTINEL)
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*?');
    expect(corpus).toMatch(new RegExp(pattern));
  });
});

function expectedPath(name: string): string {
  return join(INVALID, `${name.replace(/\.(ya?ml|json)$/, '')}.expected`);
}

describe('validation details', () => {
  const load = (text: string) => loadPolicyTexts([{ file: 'p.yaml', text }]);

  it('accepts a document that only differs by a rule violation once it is fixed', () => {
    const ok = load(
      'type: MeshTrafficPermission\nname: a\nspec:\n  from:\n    - targetRef: {kind: Mesh}\n      default: {action: Allow}\n',
    );
    expect(ok.ok).toBe(true);
  });

  it('drops rule errors of a document with a schema error but keeps those of other documents', () => {
    const result = load(
      [
        'type: MeshTrafficPermission\nname: A\nspec:\n  from:\n    - targetRef: {kind: Mesh, name: x}\n      default: {action: Nope}',
        'type: MeshTrafficPermission\nname: B\nspec: {}',
      ].join('\n---\n'),
    );
    expect(result.ok ? [] : result.errors.map(formatIssue)).toEqual([
      'p.yaml:6:25: spec.from[0].default.action: in body should be one of [Allow Deny AllowWithShadowDeny]',
      "p.yaml:9:7: name: invalid characters. A lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
      'p.yaml:10:7: spec.from: needs at least one item',
    ]);
  });

  it('takes tag keys such as __proto__ and constructor as plain keys', () => {
    const result = load(
      [
        'type: MeshTrafficPermission',
        'name: odd-keys',
        'spec:',
        '  targetRef: {kind: MeshSubset, tags: {__proto__: x}}',
        '  from:',
        '    - targetRef: {kind: MeshSubset, tags: {__proto__: y, constructor: z, toString: w}}',
        '      default: {action: Allow}',
      ].join('\n'),
    );
    expect(result.ok ? [] : result.errors.map(formatIssue)).toEqual([]);
    const policy = result.ok ? result.set.policies[0] : undefined;
    expect(Object.entries(policy?.targetRef.tags ?? {})).toEqual([['__proto__', 'x']]);
    expect(Object.entries(policy?.from[0]?.targetRef.tags ?? {})).toEqual([
      ['__proto__', 'y'],
      ['constructor', 'z'],
      ['toString', 'w'],
    ]);
  });

  it('still checks the value of a __proto__ tag', () => {
    const result = load(
      'type: MeshTrafficPermission\nname: a\nspec:\n  from:\n    - targetRef: {kind: MeshSubset, tags: {__proto__: "a b"}}\n      default: {action: Allow}\n',
    );
    expect(result.ok ? [] : result.errors.map(formatIssue)).toEqual([
      'p.yaml:5:55: spec.from[0].targetRef.tags["__proto__"]: tag value must consist of alphanumeric characters, dots, dashes and underscores',
    ]);
  });

  it('never reports a resource from a document with errors', () => {
    const result = load('type: Mesh\nname: default\nmtls: {enabledBackend: nope}\n');
    expect(result.ok).toBe(false);
  });
});
