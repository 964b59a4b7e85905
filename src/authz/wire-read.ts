/**
 * Reading the protobuf wire format without allocating: a cursor over the bytes and the steps of
 * a walk (varints, tags, lengths, skipping unknown fields), each checked against the enclosing
 * message's end. Malformed input throws MalformedMessageError, nothing else.
 */
import { WIRE_LEN, WIRE_VARINT } from './encode.js';

export class MalformedMessageError extends Error {
  override readonly name = 'MalformedMessageError';
}

const WIRE_FIXED64 = 1;
const WIRE_FIXED32 = 5;

export const EMPTY = Buffer.alloc(0);

/** A read position plus the parts of the last tag and map entry read (the walk allocates nothing). */
export class Cursor {
  buf: Buffer = EMPTY;
  pos = 0;
  wireType = 0;
  keyStart = 0;
  keyEnd = 0;
  /** -1 when the entry had no value field. */
  valueStart = -1;
  valueEnd = -1;

  reset(buf: Buffer): this {
    this.buf = buf;
    this.pos = 0;
    return this;
  }

  text(start: number, end: number): string {
    return this.buf.toString('utf8', start, end);
  }

  /** The value of the map entry just read ('' when it had no value field). */
  valueText(): string {
    return this.valueStart < 0 ? '' : this.text(this.valueStart, this.valueEnd);
  }
}

export function fail(what: string): never {
  throw new MalformedMessageError(what);
}

/** Reads a varint as a JS number (exact up to 2^53; larger values only ever fail a bound check). */
export function varint(c: Cursor, limit: number): number {
  // Tags and most lengths are one byte.
  const first = c.buf[c.pos] as number;
  if (first < 0x80 && c.pos < limit) {
    c.pos++;
    return first;
  }
  return longVarint(c, limit);
}

export function longVarint(c: Cursor, limit: number): number {
  let result = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (c.pos >= limit) fail('truncated varint');
    const b = c.buf[c.pos++] as number;
    result += (b & 0x7f) * scale;
    if (b < 0x80) return result;
    scale *= 128;
  }
  return fail('varint longer than 10 bytes');
}

/** Reads the next tag: returns the field number and leaves the wire type in `c.wireType`. */
export function nextField(c: Cursor, limit: number): number {
  const tag = varint(c, limit);
  // Valid tags fit 32 bits: integer arithmetic (a double division and modulo cost more than the walk).
  const field = tag <= 0xffffffff ? tag >>> 3 : Math.floor(tag / 8);
  if (field === 0) fail('field number 0');
  c.wireType = tag <= 0xffffffff ? tag & 7 : tag % 8;
  return field;
}

/**
 * The number of the next length-delimited field before `end`, every other field skipped on the
 * way; 0 once the message is read to `end` (field numbers start at 1). The walk reads only
 * strings and messages, so this is the one loop head every walker shares.
 */
export function nextLenField(c: Cursor, end: number): number {
  while (c.pos < end) {
    const field = nextField(c, end);
    if (c.wireType === WIRE_LEN) return field;
    skip(c, end);
  }
  return 0;
}

/** Reads a length prefix and returns the end offset of the field it announces. */
export function lengthEnd(c: Cursor, limit: number): number {
  const len = varint(c, limit);
  const end = c.pos + len;
  if (end > limit) fail('length exceeds the enclosing message');
  return end;
}

/** Skips the value of the field whose tag was just read. */
export function skip(c: Cursor, limit: number): void {
  switch (c.wireType) {
    case WIRE_VARINT:
      varint(c, limit);
      return;
    case WIRE_FIXED64:
      c.pos += 8;
      break;
    case WIRE_LEN:
      c.pos = lengthEnd(c, limit);
      return;
    case WIRE_FIXED32:
      c.pos += 4;
      break;
    default:
      // Groups (3, 4) do not exist in proto3; 6 and 7 are not wire types.
      fail(`unsupported wire type ${c.wireType}`);
  }
  if (c.pos > limit) fail('truncated fixed-width field');
}

/** The end of a message, which must be exactly where its length said. */
export function closeMessage(c: Cursor, end: number): void {
  if (c.pos !== end) fail('field overruns its message');
}
