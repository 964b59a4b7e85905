/** Reloads re-parse only changed files: the ParseCache keeps each file's outcome by its bytes. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPolicies, ParseCache } from '../../src/policy/load.js';

const policy = (name: string, action = 'Allow') => `type: MeshTrafficPermission
name: ${name}
spec:
  from:
    - targetRef: {kind: Mesh}
      default: {action: ${action}}
`;

function setUp() {
  const dir = mkdtempSync(join(tmpdir(), 'mtp-cache-'));
  writeFileSync(join(dir, 'a.yaml'), policy('a'));
  writeFileSync(join(dir, 'b.yaml'), policy('b'));
  return dir;
}

async function load(dir: string, cache: ParseCache) {
  const result = await loadPolicies([dir], {}, cache);
  if (!result.ok) throw new Error(result.errors.map((e) => e.message).join('\n'));
  return new Map(result.set.policies.map((p) => [p.name, p]));
}

describe('ParseCache', () => {
  it('reuses the outcome of unchanged files and re-reads changed ones', async () => {
    const dir = setUp();
    const cache = new ParseCache();
    const first = await load(dir, cache);
    writeFileSync(join(dir, 'b.yaml'), policy('b', 'Deny'));
    const second = await load(dir, cache);
    expect(second.get('a')).toBe(first.get('a'));
    expect(second.get('b')).not.toBe(first.get('b'));
    expect(second.get('b')?.from[0]?.action).toBe('Deny');
  });

  it('forgets files that are gone', async () => {
    const dir = setUp();
    const cache = new ParseCache();
    await load(dir, cache);
    expect(cache.size).toBe(2);
    rmSync(join(dir, 'b.yaml'));
    expect([...(await load(dir, cache)).keys()]).toEqual(['a']);
    expect(cache.size).toBe(1);
  });

  it('reports the same violations for a cached invalid file, and cross-file duplicates still count', async () => {
    const dir = setUp();
    const cache = new ParseCache();
    writeFileSync(join(dir, 'c.yaml'), policy('a'));
    const once = await loadPolicies([dir], {}, cache);
    const twice = await loadPolicies([dir], {}, cache);
    expect(once.ok).toBe(false);
    expect(twice).toEqual(once);
    expect(!twice.ok && twice.errors.map((e) => e.message)).toEqual([
      `duplicate MeshTrafficPermission "a" in mesh "default", first defined at ${join(dir, 'a.yaml')}:1:1`,
    ]);
  });
});
