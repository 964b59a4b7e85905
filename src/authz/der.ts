/**
 * A bounds-checked reader for DER (the X.509 encoding), just enough to walk a certificate to its
 * subjectAltName. It reads one element header at a time and never copies; every length is checked
 * against the enclosing element before it is trusted, and anything DER forbids (indefinite lengths,
 * non-minimal lengths, multi-byte tags) is refused. It never throws: a malformed header reads as
 * `undefined`.
 */

export const DER = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  oid: 0x06,
  sequence: 0x30,
  /** `[0] EXPLICIT` in TBSCertificate: the version. */
  tbsVersion: 0xa0,
  /** `[3] EXPLICIT` in TBSCertificate: the extensions. */
  tbsExtensions: 0xa3,
  /** GeneralName `[6] IMPLICIT IA5String`: uniformResourceIdentifier. */
  uniformResourceIdentifier: 0x86,
} as const;

/** One element: its tag byte and where its contents lie (`[start, end)`; the next sibling starts at `end`). */
export interface Tlv {
  readonly tag: number;
  readonly start: number;
  readonly end: number;
}

/** Lengths above this need more than 4 length octets; no certificate is that large. */
const MAX_LENGTH_OCTETS = 4;

/**
 * Reads the element whose header starts at `offset` and which must end at or before `limit`
 * (itself at most `bytes.length`). Returns undefined when the header is truncated or not DER, or
 * when the contents would run past `limit`.
 */
export function readTlv(bytes: Uint8Array, offset: number, limit: number): Tlv | undefined {
  if (limit > bytes.length || offset < 0 || offset + 2 > limit) return undefined;
  const tag = bytes[offset] ?? 0;
  if ((tag & 0x1f) === 0x1f) return undefined; // high tag numbers: X.509 never uses them
  const first = bytes[offset + 1] ?? 0;
  let start = offset + 2;
  let length = first;
  if (first >= 0x80) {
    const octets = first & 0x7f;
    // 0x80 is BER's indefinite length; DER needs a definite one.
    if (octets === 0 || octets > MAX_LENGTH_OCTETS || start + octets > limit) return undefined;
    // DER: no leading zero octet, and the long form only for lengths of 128 or more.
    if (bytes[start] === 0) return undefined;
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + (bytes[start + i] ?? 0);
    if (length < 0x80) return undefined;
    start += octets;
  }
  const end = start + length;
  if (end > limit) return undefined;
  return { tag, start, end };
}

/** Reads the element at `offset` and checks its tag. */
export function readTagged(bytes: Uint8Array, offset: number, limit: number, tag: number): Tlv | undefined {
  const tlv = readTlv(bytes, offset, limit);
  return tlv !== undefined && tlv.tag === tag ? tlv : undefined;
}

/** True when `bytes[start, end)` equals `expected`. */
export function contentEquals(bytes: Uint8Array, tlv: Tlv, expected: Uint8Array): boolean {
  if (tlv.end - tlv.start !== expected.length) return false;
  for (let i = 0; i < expected.length; i++) if (bytes[tlv.start + i] !== expected[i]) return false;
  return true;
}
