/**
 * A minimal DER encoder for building test certificates (and deliberately broken ones). Only what
 * X.509 needs: single-byte tags, minimal lengths.
 */
import { isIPv4, isIPv6 } from 'node:net';

export const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  oid: 0x06,
  utf8String: 0x0c,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  set: 0x31,
} as const;

/** One TLV with a single-byte tag and a minimal definite length. */
export function tlv(tag: number, ...content: readonly Uint8Array[]): Uint8Array {
  const body = content.length === 1 && content[0] !== undefined ? content[0] : Buffer.concat(content);
  const n = body.length;
  const header: number[] = [tag];
  if (n < 0x80) header.push(n);
  else {
    const lengthBytes: number[] = [];
    for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) lengthBytes.unshift(rest & 0xff);
    header.push(0x80 | lengthBytes.length, ...lengthBytes);
  }
  return Buffer.concat([Uint8Array.from(header), body]);
}

export const seq = (...items: readonly Uint8Array[]): Uint8Array => tlv(TAG.sequence, ...items);

/** A non-negative INTEGER from big-endian bytes (a leading 0x00 is added when the top bit is set). */
export function integer(bytes: Uint8Array): Uint8Array {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  const needsPad = ((trimmed[0] ?? 0) & 0x80) !== 0;
  return tlv(TAG.integer, needsPad ? Buffer.concat([Uint8Array.of(0), trimmed]) : trimmed);
}

export const smallInteger = (value: number): Uint8Array =>
  integer(Uint8Array.of((value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff));

export function oid(dotted: string): Uint8Array {
  const parts = dotted.split('.').map(Number);
  const [first = 0, second = 0, ...rest] = parts;
  const out: number[] = [first * 40 + second];
  for (const part of rest) {
    const groups: number[] = [part & 0x7f];
    for (let value = Math.floor(part / 128); value > 0; value = Math.floor(value / 128)) {
      groups.unshift(0x80 | (value & 0x7f));
    }
    out.push(...groups);
  }
  return tlv(TAG.oid, Uint8Array.from(out));
}

export const bool = (value: boolean): Uint8Array => tlv(TAG.boolean, Uint8Array.of(value ? 0xff : 0));
export const octets = (bytes: Uint8Array): Uint8Array => tlv(TAG.octetString, bytes);
export const utf8 = (text: string): Uint8Array => tlv(TAG.utf8String, Buffer.from(text, 'utf8'));
export const bitString = (bytes: Uint8Array, unusedBits = 0): Uint8Array =>
  tlv(TAG.bitString, Uint8Array.of(unusedBits), bytes);

/** UTCTime before 2050, GeneralizedTime after, as RFC 5280 requires. */
export function time(date: Date): Uint8Array {
  const iso = date.toISOString(); // 2026-01-02T03:04:05.678Z
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return date.getUTCFullYear() < 2050
    ? tlv(TAG.utcTime, Buffer.from(digits.slice(2), 'latin1'))
    : tlv(TAG.generalizedTime, Buffer.from(digits, 'latin1'));
}

/** A Name with at most one CN (an empty Name when commonName is undefined). */
export function name(commonName: string | undefined): Uint8Array {
  if (commonName === undefined) return seq();
  return seq(tlv(TAG.set, seq(oid('2.5.4.3'), utf8(commonName))));
}

const bytesOf = (value: string | Uint8Array): Uint8Array =>
  typeof value === 'string' ? Buffer.from(value, 'latin1') : value;

/** GeneralName `[6] uniformResourceIdentifier` holding exactly these bytes. */
export const uriName = (value: string | Uint8Array): Uint8Array => tlv(0x86, bytesOf(value));
/** GeneralName `[2] dNSName`. */
export const dnsName = (value: string | Uint8Array): Uint8Array => tlv(0x82, bytesOf(value));
/** GeneralName `[7] iPAddress`. */
export const ipName = (address: string): Uint8Array => tlv(0x87, ipBytes(address));
/** GeneralNames, the value of a subjectAltName extension. */
export const generalNames = (names: readonly Uint8Array[]): Uint8Array => seq(...names);

function ipBytes(address: string): Uint8Array {
  if (isIPv4(address)) return Uint8Array.from(address.split('.').map(Number));
  if (!isIPv6(address)) throw new Error(`not an IP address: ${address}`);
  const [head = '', tail] = address.split('::');
  const groups = (part: string | undefined): number[] =>
    part === undefined || part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16));
  const left = groups(head);
  const right = groups(tail);
  const all = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  const out = new Uint8Array(16);
  all.forEach((group, i) => {
    out[i * 2] = group >> 8;
    out[i * 2 + 1] = group & 0xff;
  });
  return out;
}
