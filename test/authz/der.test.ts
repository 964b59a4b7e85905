import { describe, expect, it } from 'vitest';
import { contentEquals, readTagged, readTlv } from '../../src/authz/der.js';

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

describe('readTlv', () => {
  it('reads a short-form length', () => {
    const der = bytes(0x30, 0x03, 0x02, 0x01, 0x05);
    expect(readTlv(der, 0, der.length)).toEqual({ tag: 0x30, start: 2, end: 5 });
    expect(readTlv(der, 2, 5)).toEqual({ tag: 0x02, start: 4, end: 5 });
  });

  it('reads long-form lengths', () => {
    const one = new Uint8Array(3 + 200);
    one.set([0x04, 0x81, 200]);
    expect(readTlv(one, 0, one.length)).toEqual({ tag: 0x04, start: 3, end: 203 });
    const two = new Uint8Array(4 + 300);
    two.set([0x04, 0x82, 0x01, 0x2c]);
    expect(readTlv(two, 0, two.length)).toEqual({ tag: 0x04, start: 4, end: 304 });
  });

  it('reads an empty element', () => {
    expect(readTlv(bytes(0x05, 0x00), 0, 2)).toEqual({ tag: 0x05, start: 2, end: 2 });
  });

  it('refuses contents that run past the limit', () => {
    const der = bytes(0x30, 0x05, 0x02, 0x01, 0x05);
    expect(readTlv(der, 0, der.length)).toBeUndefined();
    // The element fits the buffer but not its parent.
    expect(readTlv(bytes(0x30, 0x03, 0x02, 0x02, 0x05, 0x06), 2, 5)).toBeUndefined();
  });

  it('refuses a huge length field', () => {
    expect(readTlv(bytes(0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x00), 0, 7)).toBeUndefined();
    expect(readTlv(bytes(0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x00), 0, 7)).toBeUndefined();
    // Five length octets: longer than any certificate, refused before it is read.
    expect(readTlv(bytes(0x30, 0x85, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00), 0, 8)).toBeUndefined();
    expect(readTlv(bytes(0x30, 0xff, 0x00), 0, 3)).toBeUndefined();
  });

  it('refuses what DER forbids', () => {
    expect(readTlv(bytes(0x30, 0x80, 0x00, 0x00), 0, 4), 'indefinite length').toBeUndefined();
    expect(
      readTlv(bytes(0x04, 0x81, 0x05, 1, 2, 3, 4, 5), 0, 8),
      'long form for a short length',
    ).toBeUndefined();
    const padded = new Uint8Array(4 + 200);
    padded.set([0x04, 0x82, 0x00, 200]);
    expect(readTlv(padded, 0, padded.length), 'leading zero length octet').toBeUndefined();
    expect(readTlv(bytes(0x1f, 0x81, 0x01, 0x00), 0, 4), 'high tag number').toBeUndefined();
  });

  it('refuses truncated headers and bad bounds', () => {
    expect(readTlv(bytes(), 0, 0)).toBeUndefined();
    expect(readTlv(bytes(0x30), 0, 1)).toBeUndefined();
    expect(readTlv(bytes(0x04, 0x82, 0x01), 0, 3)).toBeUndefined();
    expect(readTlv(bytes(0x05, 0x00), 0, 3), 'limit past the buffer').toBeUndefined();
    expect(readTlv(bytes(0x05, 0x00), -1, 2)).toBeUndefined();
    expect(readTlv(bytes(0x05, 0x00, 0x05, 0x00), 3, 4)).toBeUndefined();
  });

  it('never throws and stays in bounds on random input', () => {
    let seed = 42;
    const random = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed / 2_147_483_648;
    };
    for (let round = 0; round < 5000; round++) {
      const der = Uint8Array.from({ length: 1 + Math.floor(random() * 12) }, () =>
        Math.floor(random() * 256),
      );
      const offset = Math.floor(random() * der.length);
      const tlv = readTlv(der, offset, der.length);
      if (tlv !== undefined) {
        expect(tlv.start).toBeGreaterThan(offset);
        expect(tlv.end).toBeGreaterThanOrEqual(tlv.start);
        expect(tlv.end).toBeLessThanOrEqual(der.length);
      }
    }
  });
});

describe('readTagged', () => {
  it('checks the tag', () => {
    const der = bytes(0x02, 0x01, 0x05);
    expect(readTagged(der, 0, 3, 0x02)).toEqual({ tag: 0x02, start: 2, end: 3 });
    expect(readTagged(der, 0, 3, 0x30)).toBeUndefined();
  });
});

describe('contentEquals', () => {
  it('compares the contents, length included', () => {
    const der = bytes(0x06, 0x03, 0x55, 0x1d, 0x11);
    const tlv = { tag: 0x06, start: 2, end: 5 };
    expect(contentEquals(der, tlv, bytes(0x55, 0x1d, 0x11))).toBe(true);
    expect(contentEquals(der, tlv, bytes(0x55, 0x1d, 0x0e))).toBe(false);
    expect(contentEquals(der, tlv, bytes(0x55, 0x1d))).toBe(false);
  });
});
