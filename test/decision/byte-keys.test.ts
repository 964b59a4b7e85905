import { describe, expect, it } from 'vitest';
import { copyBytes, hashBytes, sameBytes } from '../../src/decision/byte-keys.js';

describe('byte keys', () => {
  const bytes = Buffer.from(
    'xx-the-same-bytes-xx and a longer tail that passes the loop threshold of the compare -yy',
  );

  it('hashes only the range, so equal bytes anywhere hash alike, and stays a small integer', () => {
    const elsewhere = Buffer.concat([Buffer.from('zzzz'), bytes]);
    expect(hashBytes(elsewhere, 4 + 3, 4 + 17)).toBe(hashBytes(bytes, 3, 17));
    expect(hashBytes(bytes, 3, 17, 1)).not.toBe(hashBytes(bytes, 3, 17, 2));
    for (let i = 0; i < 200; i++) {
      const hash = hashBytes(Buffer.from(`key-${i}`), 0, 5 + String(i).length);
      expect(Number.isInteger(hash) && hash >= 0 && hash < 2 ** 30).toBe(true);
    }
  });

  it.each([
    ['a short range', 3, 17],
    ['a long range', 0, bytes.length - 1],
  ])('compares %s exactly', (_name, start, end) => {
    const copy = copyBytes(bytes, start, end);
    expect(sameBytes(copy, bytes, start, end)).toBe(true);
    expect(sameBytes(copy, bytes, start, end - 1)).toBe(false);
    expect(sameBytes(copy, bytes, start + 1, end + 1)).toBe(false);
    const changed = Buffer.from(bytes);
    changed[end - 1] = (changed[end - 1] as number) ^ 1;
    expect(sameBytes(copy, changed, start, end)).toBe(false);
  });

  it('copies, so that later changes to the request buffer do not reach the copy', () => {
    const source = Buffer.from('abcdef');
    const copy = copyBytes(source, 1, 4);
    source.fill(0);
    expect(copy.toString()).toBe('bcd');
  });
});
