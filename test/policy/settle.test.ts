/**
 * Half-written files: a changed file is read only once it has kept its size and times for the
 * stability window, and a file that moves while it is read makes the load unusable.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { tempDir } from '../support/temp-files.js';

vi.mock('../../src/policy/settle.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/policy/settle.js')>();
  return {
    ...original,
    // `moving.yaml` has moved on every time it is looked at after the walk.
    currentStamp: async (file: string) =>
      file.endsWith('moving.yaml') ? 'moved' : original.currentStamp(file),
  };
});

const { loadPolicies, ParseCache } = await import('../../src/policy/load.js');
const { stampOf, waitUntilSettled } = await import('../../src/policy/settle.js');
const { statSync } = await import('node:fs');

const POLICY = `type: MeshTrafficPermission
name: p
spec:
  from:
    - targetRef: {kind: Mesh}
      default: {action: Allow}
`;

const dir = (): string => tempDir('mtp-settle-');

describe('waitUntilSettled', () => {
  it('waits until a file has stayed unchanged for the whole window, counted from its last change', async () => {
    const d = dir();
    const file = join(d, 'a.yaml');
    writeFileSync(file, POLICY);
    const started = performance.now();
    setTimeout(() => appendFileSync(file, '# more\n'), 200);
    const stamps = new Map([[file, stampOf(statSync(file))]]);
    await waitUntilSettled(stamps, { windowMs: 400, atomicPaths: [], known: () => false });
    // The append at 200 ms restarted the window: at least 200 + 400 ms.
    expect(performance.now() - started).toBeGreaterThanOrEqual(590);
    expect(stamps.get(file)).toBe(stampOf(statSync(file)));
  });

  it('does not wait for files under an atomic path, nor for files the last load read', async () => {
    const d = dir();
    const file = join(d, 'a.yaml');
    writeFileSync(file, POLICY);
    const stamps = new Map([[file, stampOf(statSync(file))]]);
    const started = performance.now();
    await waitUntilSettled(stamps, { windowMs: 5000, atomicPaths: [d], known: () => false });
    await waitUntilSettled(stamps, { windowMs: 5000, atomicPaths: [], known: () => true });
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

describe('loadPolicies', () => {
  it('reports a file that changed while it was read, and does not serve it', async () => {
    const d = dir();
    writeFileSync(join(d, 'moving.yaml'), POLICY);
    const result = await loadPolicies([d], {}, new ParseCache());
    expect(result.ok).toBe(false);
    expect(result.changedWhileReading).toEqual([join(d, 'moving.yaml')]);
    expect(result.ok ? [] : result.errors).toEqual([
      { file: join(d, 'moving.yaml'), line: 1, col: 1, path: 'file', message: 'file changed while reading' },
    ]);
  });

  it('gives the same fingerprint while nothing changes, and another after an edit', async () => {
    const d = dir();
    writeFileSync(join(d, 'a.yaml'), POLICY);
    const cache = new ParseCache();
    const once = await loadPolicies([d], {}, cache);
    const twice = await loadPolicies([d], {}, cache);
    expect(twice.ok).toBe(true);
    expect(twice.fingerprint).toBe(once.fingerprint);
    appendFileSync(join(d, 'a.yaml'), '# edited\n');
    expect((await loadPolicies([d], {}, cache)).fingerprint).not.toBe(once.fingerprint);
  });
});
