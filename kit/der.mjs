/**
 * A minimal DER encoder for building certificates (and deliberately broken ones). Only what X.509
 * needs: single-byte tags, minimal lengths.
 */
import { isIPv4, isIPv6 } from 'node:net';

export const TAG = Object.freeze({
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
});

/**
 * One TLV with a single-byte tag and a minimal definite length.
 * @param {number} tag
 * @param {...Uint8Array} content
 * @returns {Uint8Array}
 */
export function tlv(tag, ...content) {
  const body = content.length === 1 && content[0] !== undefined ? content[0] : Buffer.concat(content);
  const n = body.length;
  /** @type {number[]} */
  const header = [tag];
  if (n < 0x80) header.push(n);
  else {
    /** @type {number[]} */
    const lengthBytes = [];
    for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) lengthBytes.unshift(rest & 0xff);
    header.push(0x80 | lengthBytes.length, ...lengthBytes);
  }
  return Buffer.concat([Uint8Array.from(header), body]);
}

/** @type {(...items: Uint8Array[]) => Uint8Array} */
export const seq = (...items) => tlv(TAG.sequence, ...items);

/**
 * A non-negative INTEGER from big-endian bytes (a leading 0x00 is added when the top bit is set).
 * @param {Uint8Array} bytes
 * @returns {Uint8Array}
 */
export function integer(bytes) {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  const needsPad = ((trimmed[0] ?? 0) & 0x80) !== 0;
  return tlv(TAG.integer, needsPad ? Buffer.concat([Uint8Array.of(0), trimmed]) : trimmed);
}

/** @type {(value: number) => Uint8Array} */
export const smallInteger = (value) =>
  integer(Uint8Array.of((value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff));

/**
 * @param {string} dotted
 * @returns {Uint8Array}
 */
export function oid(dotted) {
  const parts = dotted.split('.').map(Number);
  const [first = 0, second = 0, ...rest] = parts;
  const out = [first * 40 + second];
  for (const part of rest) {
    const groups = [part & 0x7f];
    for (let value = Math.floor(part / 128); value > 0; value = Math.floor(value / 128)) {
      groups.unshift(0x80 | (value & 0x7f));
    }
    out.push(...groups);
  }
  return tlv(TAG.oid, Uint8Array.from(out));
}

/** @type {(value: boolean) => Uint8Array} */
export const bool = (value) => tlv(TAG.boolean, Uint8Array.of(value ? 0xff : 0));
/** @type {(bytes: Uint8Array) => Uint8Array} */
export const octets = (bytes) => tlv(TAG.octetString, bytes);
/** @type {(text: string) => Uint8Array} */
export const utf8 = (text) => tlv(TAG.utf8String, Buffer.from(text, 'utf8'));
/** @type {(bytes: Uint8Array, unusedBits?: number) => Uint8Array} */
export const bitString = (bytes, unusedBits = 0) => tlv(TAG.bitString, Uint8Array.of(unusedBits), bytes);

/**
 * UTCTime before 2050, GeneralizedTime after, as RFC 5280 requires.
 * @param {Date} date
 * @returns {Uint8Array}
 */
export function time(date) {
  const iso = date.toISOString(); // 2026-01-02T03:04:05.678Z
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return date.getUTCFullYear() < 2050
    ? tlv(TAG.utcTime, Buffer.from(digits.slice(2), 'latin1'))
    : tlv(TAG.generalizedTime, Buffer.from(digits, 'latin1'));
}

/**
 * A Name with at most one CN (an empty Name when commonName is undefined).
 * @param {string | undefined} commonName
 * @returns {Uint8Array}
 */
export function name(commonName) {
  if (commonName === undefined) return seq();
  return seq(tlv(TAG.set, seq(oid('2.5.4.3'), utf8(commonName))));
}

/** @type {(value: string | Uint8Array) => Uint8Array} */
const bytesOf = (value) => (typeof value === 'string' ? Buffer.from(value, 'latin1') : value);

/**
 * GeneralName `[6] uniformResourceIdentifier` holding exactly these bytes.
 * @type {(value: string | Uint8Array) => Uint8Array}
 */
export const uriName = (value) => tlv(0x86, bytesOf(value));
/**
 * GeneralName `[2] dNSName`.
 * @type {(value: string | Uint8Array) => Uint8Array}
 */
export const dnsName = (value) => tlv(0x82, bytesOf(value));
/**
 * GeneralName `[7] iPAddress`.
 * @type {(address: string) => Uint8Array}
 */
export const ipName = (address) => tlv(0x87, ipBytes(address));
/**
 * GeneralNames, the value of a subjectAltName extension.
 * @type {(names: readonly Uint8Array[]) => Uint8Array}
 */
export const generalNames = (names) => seq(...names);

/**
 * @param {string} address
 * @returns {Uint8Array}
 */
function ipBytes(address) {
  if (isIPv4(address)) return Uint8Array.from(address.split('.').map(Number));
  if (!isIPv6(address)) throw new Error(`not an IP address: ${address}`);
  const [head = '', tail] = address.split('::');
  /** @type {(part: string | undefined) => number[]} */
  const groups = (part) =>
    part === undefined || part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16));
  const left = groups(head);
  const right = groups(tail);
  /** @type {number[]} */
  const zeros = new Array(8 - left.length - right.length).fill(0);
  const all = [...left, ...zeros, ...right];
  const out = new Uint8Array(16);
  all.forEach((group, i) => {
    out[i * 2] = group >> 8;
    out[i * 2 + 1] = group & 0xff;
  });
  return out;
}
