/**
 * Looking things up by a range of request bytes without first turning the bytes into a string:
 * the hot path's caches hash the bytes where they lie, then compare them exactly against a copy.
 * A hash only picks a bucket (or an admission slot); equality is always decided on the bytes.
 */
import { randomInt } from 'node:crypto';

/**
 * Per-process seed: which byte strings share a bucket cannot be worked out from outside, so nobody
 * can aim many requests at one bucket.
 */
const SEED = randomInt(2 ** 31);

/**
 * FNV-1a of bytes[start, end), mixed with `salt` (e.g. a length or a source marker), cut to 30
 * bits: a small integer, which V8 stores unboxed, so using it as a Map key allocates nothing.
 */
export function hashBytes(bytes: Uint8Array, start: number, end: number, salt = 0): number {
  let hash = Math.imul(SEED ^ salt, 0x01000193);
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ (bytes[i] as number), 0x01000193);
  return hash & 0x3fffffff;
}

/** The same hash over a text's UTF-16 code units (for keys that are already strings). */
export function hashText(text: string, salt = 0): number {
  let hash = Math.imul(SEED ^ salt, 0x01000193);
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash & 0x3fffffff;
}

/** Below this many bytes a loop beats the call into native Buffer.compare. */
const LOOP_COMPARE_BYTES = 48;

/** True when `copy` holds exactly bytes[start, end). */
export function sameBytes(copy: Buffer, bytes: Buffer, start: number, end: number): boolean {
  const length = end - start;
  if (copy.length !== length) return false;
  if (length <= LOOP_COMPARE_BYTES) {
    for (let i = 0; i < length; i++) if (copy[i] !== bytes[start + i]) return false;
    return true;
  }
  return bytes.compare(copy, 0, length, start, end) === 0;
}

/**
 * A copy of bytes[start, end) for a cache entry, in memory of its own: a slice of Node's shared
 * 8 KiB allocation pool would keep a whole pool page alive for as long as the entry lives (and the
 * pages in between fill with request buffers), so 10 000 cached certificates would pin ~80 MB.
 */
export function copyBytes(bytes: Buffer, start: number, end: number): Buffer {
  const copy = Buffer.allocUnsafeSlow(end - start);
  bytes.copy(copy, 0, start, end);
  return copy;
}
