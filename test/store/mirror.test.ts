/** The replica's copy of the store: deltas, tombstones, resyncs, the texts a write is checked with; back-off; convergence. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { backoffDelay } from '../../src/store/backoff.js';
import { Convergence } from '../../src/store/convergence.js';
import { Mirror } from '../../src/store/mirror.js';

const A = 'postgres:access-roles/a.yaml';
const B = 'postgres:access-roles/b.yaml';

describe('Mirror', () => {
  it('applies changes in order: puts, replacements and tombstones, the version the newest', () => {
    const mirror = new Mirror();
    mirror.apply([
      { file: B, text: 'b1', version: 1 },
      { file: A, text: 'a2', version: 2 },
    ]);
    mirror.apply([{ file: B, text: undefined, version: 3 }]);
    expect(mirror.snapshot()).toEqual({ version: 3, texts: [{ file: A, text: 'a2' }] });
  });

  it('ignores a change older than the one it holds', () => {
    const mirror = new Mirror();
    mirror.apply([{ file: A, text: 'new', version: 5 }]);
    mirror.apply([{ file: A, text: 'old', version: 4 }]);
    expect(mirror.snapshot().texts).toEqual([{ file: A, text: 'new' }]);
  });

  it('moves to a version no row carries (a write that is about to be made holds it)', () => {
    const mirror = new Mirror();
    mirror.apply([], 7);
    expect(mirror.version).toBe(7);
    mirror.apply([], 3);
    expect(mirror.version).toBe(7);
  });

  it('is replaced whole by a resync', () => {
    const mirror = new Mirror();
    mirror.apply([{ file: A, text: 'a', version: 1 }]);
    mirror.replace([{ file: B, text: 'b', version: 9 }], 12);
    expect(mirror.snapshot()).toEqual({ version: 12, texts: [{ file: B, text: 'b' }] });
  });

  it('gives the texts as they would be with one change, without making it', () => {
    const mirror = new Mirror();
    mirror.apply([{ file: A, text: 'a', version: 1 }]);
    expect(mirror.with(B, 'b')).toEqual([
      { file: A, text: 'a' },
      { file: B, text: 'b' },
    ]);
    expect(mirror.with(A, undefined)).toEqual([]);
    expect(mirror.snapshot().texts).toEqual([{ file: A, text: 'a' }]);
  });
});

describe('backoffDelay', () => {
  const backoff = { firstMs: 250, maxMs: 5000 };
  it('doubles from the first delay up to the cap, within ±20 %', () => {
    expect([1, 2, 3, 4, 5, 6, 10].map((n) => backoffDelay(n, backoff, () => 0.5))).toEqual([
      250, 500, 1000, 2000, 4000, 5000, 5000,
    ]);
    expect(backoffDelay(3, backoff, () => 0)).toBe(800);
    expect(backoffDelay(3, backoff, () => 0.999_999)).toBe(1200);
  });
});

describe('Convergence', () => {
  afterEach(() => vi.useRealTimers());

  it('measures commit → served for every commit a served version covers', () => {
    vi.useFakeTimers({ now: 10_000 });
    const seen: number[] = [];
    const convergence = new Convergence((s) => seen.push(s));
    convergence.committed(1, 9_000, 0);
    convergence.committed(2, 9_500, 0);
    vi.setSystemTime(10_250);
    convergence.served(1);
    expect(seen).toEqual([1.25]);
    convergence.served(2);
    expect(seen).toEqual([1.25, 0.75]);
  });

  it('counts a commit already served (this replica wrote it) at once, and a clock ahead as 0', () => {
    vi.useFakeTimers({ now: 10_000 });
    const seen: number[] = [];
    const convergence = new Convergence((s) => seen.push(s));
    convergence.committed(3, 9_900, 3);
    convergence.committed(4, 10_400, 4);
    expect(seen).toEqual([0.1, 0]);
  });
});
