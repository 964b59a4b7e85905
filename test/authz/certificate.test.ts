import { describe, expect, it } from 'vitest';
import {
  clientFromCertificate,
  MAX_CERTIFICATE_CHARS,
  MAX_SUBJECT_ALT_NAMES,
  MAX_URI_BYTES,
  readUriSans,
} from '../../src/authz/certificate.js';
import { DEFAULT_MAX_URI_SANS, NO_SPIFFE_ID } from '../../src/decision/identity.js';
import type { Client } from '../../src/decision/types.js';
import {
  dnsName,
  envoyUrlEncode,
  generalNames,
  makeChain,
  makeWorkloadCert,
  pemFromDer,
  uriName,
} from '../support/certs.js';
import { name, octets, oid, seq, smallInteger, tlv } from '../../kit/der.mjs';

const SAN_OID = '2.5.29.17';

/** The identity as plain data, for readable assertions. */
function identityOf(client: Client): { mesh: string; tags: Record<string, readonly string[]> } {
  if (client.kind !== 'identity') throw new Error(`expected an identity, got ${JSON.stringify(client)}`);
  return { mesh: client.identity.mesh, tags: Object.fromEntries(client.identity.tags) };
}

const fromUris = (uris: readonly string[]): Client =>
  clientFromCertificate(makeWorkloadCert({ uris }).urlEncoded);

const fromSanValue = (sanValue: Uint8Array): Client =>
  clientFromCertificate(makeWorkloadCert({ uris: [], sanValue }).urlEncoded);

describe('clientFromCertificate: identities', () => {
  it('reads the mesh, the service and kuma:// tags', () => {
    const client = fromUris(['spiffe://default/web', 'kuma://env/prod', 'kuma://kuma.io/zone/us-east']);
    expect(identityOf(client)).toEqual({
      mesh: 'default',
      tags: { 'kuma.io/service': ['web'], env: ['prod'], 'kuma.io/zone': ['us-east'] },
    });
    expect(client.kind === 'identity' && client.identity.multiValued).toBe(false);
  });

  it('reads every SPIFFE ID of a proxy with several inbounds', () => {
    const client = fromUris(['spiffe://default/web', 'spiffe://default/api', 'kuma://env/prod']);
    expect(identityOf(client)).toEqual({
      mesh: 'default',
      tags: { 'kuma.io/service': ['web', 'api'], env: ['prod'] },
    });
    expect(client.kind === 'identity' && client.identity.multiValued).toBe(true);
  });

  it('takes the service from SPIFFE IDs only, never from a kuma://kuma.io/service SAN', () => {
    const client = fromUris(['spiffe://default/web', 'kuma://kuma.io/service/payments']);
    expect(identityOf(client).tags).toEqual({ 'kuma.io/service': ['web'] });
  });

  it('reads a critical and a non-critical subjectAltName alike', () => {
    const uris = ['spiffe://default/web', 'kuma://env/prod'];
    const critical = makeWorkloadCert({ uris });
    const plain = makeWorkloadCert({ uris, commonName: 'web' });
    const criticalSan = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x11, 0x01, 0x01, 0xff]);
    expect(Buffer.from(critical.der).includes(criticalSan)).toBe(true);
    expect(Buffer.from(plain.der).includes(criticalSan)).toBe(false);
    expect(identityOf(clientFromCertificate(critical.urlEncoded))).toEqual(
      identityOf(clientFromCertificate(plain.urlEncoded)),
    );
  });

  it('ignores other URIs and name types', () => {
    const client = clientFromCertificate(
      makeWorkloadCert({
        uris: ['https://example.com/x', 'spiffe://default/web', 'urn:uuid:1'],
        dnsNames: ['web.default.svc'],
      }).urlEncoded,
    );
    expect(identityOf(client)).toEqual({ mesh: 'default', tags: { 'kuma.io/service': ['web'] } });
  });

  it('makes a certificate without a valid SPIFFE ID an invalid identity, never no client', () => {
    const invalid = { kind: 'invalid', reason: NO_SPIFFE_ID };
    expect(
      clientFromCertificate(makeWorkloadCert({ uris: [], dnsNames: ['web.local'] }).urlEncoded),
    ).toStrictEqual(invalid);
    expect(clientFromCertificate(makeWorkloadCert({ uris: [], commonName: 'web' }).urlEncoded)).toStrictEqual(
      invalid,
    );
    expect(fromUris(['kuma://env/prod'])).toStrictEqual(invalid);
    expect(fromUris(['SPIFFE://default/web', 'kuma://env/prod'])).toStrictEqual({
      ...invalid,
      ignoredSans: 1,
    });
  });

  it('treats an empty certificate field as no client', () => {
    expect(clientFromCertificate('')).toEqual({ kind: 'none' });
  });

  it('refuses SPIFFE IDs of two meshes', () => {
    expect(fromUris(['spiffe://default/web', 'spiffe://other/web'])).toEqual({
      kind: 'invalid',
      reason: 'SPIFFE IDs name different meshes ("default" and "other")',
    });
  });

  const manyUris = (n: number): string[] => {
    const uris = ['spiffe://default/web'];
    for (let i = 1; i < n; i++) uris.push(`kuma://team-${i}/t${i}`);
    return uris;
  };

  it(`reads up to ${DEFAULT_MAX_URI_SANS} URI SANs by default, and refuses one more`, () => {
    const tags = identityOf(fromUris(manyUris(DEFAULT_MAX_URI_SANS))).tags;
    expect(Object.keys(tags)).toHaveLength(DEFAULT_MAX_URI_SANS);
    expect(tags[`team-${DEFAULT_MAX_URI_SANS - 1}`]).toEqual([`t${DEFAULT_MAX_URI_SANS - 1}`]);
    expect(fromUris(manyUris(DEFAULT_MAX_URI_SANS + 1))).toStrictEqual({
      kind: 'invalid',
      reason: `certificate has more than ${DEFAULT_MAX_URI_SANS} URI SANs (--max-certificate-sans)`,
      cause: 'too-many-sans',
    });
  });

  it('applies the URI SAN bound it is given, counting URIs only', () => {
    const cert = makeWorkloadCert({ uris: manyUris(500), dnsNames: ['a.local', 'b.local'] }).urlEncoded;
    expect(Object.keys(identityOf(clientFromCertificate(cert, { maxUriSans: 500 })).tags)).toHaveLength(500);
    expect(clientFromCertificate(cert, { maxUriSans: 499 })).toMatchObject({
      kind: 'invalid',
      reason: 'certificate has more than 499 URI SANs (--max-certificate-sans)',
    });
  });
});

describe('clientFromCertificate: encodings', () => {
  const cert = makeWorkloadCert({ uris: ['spiffe://default/web', 'kuma://env/prod'] });
  const expected = identityOf(clientFromCertificate(cert.urlEncoded));

  it('accepts raw PEM, which URL-decoding leaves unchanged', () => {
    expect(cert.pem).toContain('\n');
    expect(identityOf(clientFromCertificate(cert.pem))).toEqual(expected);
    expect(identityOf(clientFromCertificate(cert.pem.replaceAll('\n', '\r\n')))).toEqual(expected);
  });

  it('accepts fully percent-encoded PEM (what encodeURIComponent gives)', () => {
    expect(identityOf(clientFromCertificate(encodeURIComponent(cert.pem)))).toEqual(expected);
  });

  it('does not read + as a space', () => {
    // Base64 uses '+'; a form decoder would turn it into a space and break the certificate.
    let pem = cert.pem;
    while (!pem.includes('+'))
      pem = makeWorkloadCert({ uris: ['spiffe://default/web', 'kuma://env/prod'] }).pem;
    const withPlus = envoyUrlEncode(pem).replaceAll('%2B', '+');
    expect(withPlus).toContain('+');
    expect(identityOf(clientFromCertificate(withPlus))).toEqual(expected);
  });

  it('accepts a PEM without its final newline', () => {
    expect(identityOf(clientFromCertificate(cert.urlEncoded.slice(0, -'%0A'.length)))).toEqual(expected);
  });

  it('refuses invalid percent-encoding', () => {
    const invalid = { kind: 'invalid', reason: 'certificate is not valid URL-encoded text' };
    expect(clientFromCertificate(`${cert.urlEncoded}%`)).toEqual(invalid);
    expect(clientFromCertificate(cert.urlEncoded.replace('%0A', '%0G'))).toEqual(invalid);
    expect(clientFromCertificate(`${cert.urlEncoded}%C3%28`)).toEqual(invalid);
  });

  it('refuses text that is not a PEM certificate', () => {
    expect(clientFromCertificate('garbage')).toEqual({
      kind: 'invalid',
      reason: 'certificate is not a PEM certificate',
    });
    const key = '-----BEGIN%20PRIVATE%20KEY-----%0AMIGHAgEA%0A-----END%20PRIVATE%20KEY-----%0A';
    expect(clientFromCertificate(key)).toEqual({
      kind: 'invalid',
      reason: 'certificate is not a PEM certificate',
    });
    expect(clientFromCertificate(cert.urlEncoded.slice(0, 200))).toEqual({
      kind: 'invalid',
      reason: 'certificate PEM block has no END line',
    });
  });

  it('refuses a PEM block without its END line, even when a later block has one', () => {
    const noEnd = { kind: 'invalid', reason: 'certificate PEM block has no END line' };
    const endAt = cert.pem.indexOf('-----END CERTIFICATE-----');
    expect(clientFromCertificate(cert.pem.slice(0, endAt))).toStrictEqual(noEnd);
    expect(clientFromCertificate(envoyUrlEncode(cert.pem.slice(0, endAt)))).toStrictEqual(noEnd);
    expect(
      clientFromCertificate(cert.pem.replace('-----END CERTIFICATE-----', '-----END CERTIF')),
    ).toStrictEqual(noEnd);
    // The END line found belongs to the next block: the text in between is not base64.
    const other = makeWorkloadCert({ uris: ['spiffe://default/admin'] });
    expect(clientFromCertificate(envoyUrlEncode(cert.pem.slice(0, endAt) + other.pem))).toStrictEqual({
      kind: 'invalid',
      reason: 'certificate PEM block is not valid base64',
    });
  });

  it('refuses a PEM body that is not base64', () => {
    const reason = 'certificate PEM block is not valid base64';
    expect(clientFromCertificate(cert.pem.replace('MII', 'M*I'))).toEqual({ kind: 'invalid', reason });
    expect(clientFromCertificate(cert.pem.replace('MII', 'M=I'))).toEqual({ kind: 'invalid', reason });
    expect(clientFromCertificate(cert.pem.replace('MII', 'M I'))).toEqual({ kind: 'invalid', reason });
    expect(clientFromCertificate('-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n')).toEqual({
      kind: 'invalid',
      reason,
    });
  });

  it('refuses base64 that is not a certificate', () => {
    expect(clientFromCertificate(pemFromDer(Buffer.from('hello, world')))).toEqual({
      kind: 'invalid',
      reason: 'certificate does not parse as X.509',
    });
  });

  it('refuses a truncated certificate', () => {
    const half = cert.der.subarray(0, Math.floor(cert.der.length / 2));
    expect(clientFromCertificate(envoyUrlEncode(pemFromDer(half)))).toEqual({
      kind: 'invalid',
      reason: 'certificate does not parse as X.509',
    });
  });

  it('refuses a certificate with bytes after it', () => {
    const trailing = Buffer.concat([cert.der, Buffer.from([0x05, 0x00])]);
    expect(clientFromCertificate(pemFromDer(trailing)).kind).toBe('invalid');
  });

  it('refuses a huge length field', () => {
    const huge = Buffer.concat([Buffer.from([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff]), cert.der.subarray(4)]);
    expect(clientFromCertificate(pemFromDer(huge))).toEqual({
      kind: 'invalid',
      reason: 'certificate does not parse as X.509',
    });
  });

  it('refuses an oversized field before reading it', () => {
    expect(clientFromCertificate('A'.repeat(MAX_CERTIFICATE_CHARS + 1))).toEqual({
      kind: 'invalid',
      reason: `certificate is larger than ${MAX_CERTIFICATE_CHARS} characters`,
    });
  });

  it('never throws on a damaged certificate', () => {
    // Every cut before the END line loses data; a cut after it loses only the final newline.
    const endLine = cert.urlEncoded.indexOf('-----END');
    for (let cut = 0; cut < endLine; cut += 7) {
      const client = clientFromCertificate(cert.urlEncoded.slice(0, cut));
      expect(client.kind === 'invalid' || client.kind === 'none').toBe(true);
    }
    for (let i = 0; i < cert.der.length; i++) {
      const flipped = Buffer.from(cert.der);
      flipped[i] = (flipped[i] ?? 0) ^ 0xff;
      expect(() => clientFromCertificate(pemFromDer(flipped))).not.toThrow();
    }
  });
});

describe('clientFromCertificate: chains', () => {
  it('reads the first certificate of a chain as the peer', () => {
    const chain = makeChain({ uris: ['spiffe://default/web', 'kuma://env/prod'] });
    expect(identityOf(clientFromCertificate(chain.urlEncoded))).toEqual({
      mesh: 'default',
      tags: { 'kuma.io/service': ['web'], env: ['prod'] },
    });
    expect(identityOf(clientFromCertificate(chain.pem)).tags).toEqual({
      'kuma.io/service': ['web'],
      env: ['prod'],
    });
  });

  it('never merges names from a later certificate', () => {
    const chain = makeChain({ uris: ['spiffe://default/web'] });
    const other = makeWorkloadCert({ uris: ['spiffe://other/admin', 'kuma://env/prod'] });
    expect(identityOf(clientFromCertificate(chain.leafPem + other.pem)).tags).toEqual({
      'kuma.io/service': ['web'],
    });
    // Intermediate first: its (absent) SANs are what count.
    expect(clientFromCertificate(chain.intermediatePem + chain.leafPem)).toEqual({
      kind: 'invalid',
      reason: NO_SPIFFE_ID,
    });
  });
});

describe('clientFromCertificate: hostile SANs', () => {
  it('reads a SAN whose text looks like two SANs as one URI, which adds nothing', () => {
    const client = fromUris(['spiffe://default/web', 'spiffe://default/api, URI:kuma://env/prod']);
    expect(identityOf(client)).toEqual({ mesh: 'default', tags: { 'kuma.io/service': ['web'] } });
    expect(client).toMatchObject({ ignoredSans: 1 });
    expect(fromUris(['spiffe://default/web, URI:kuma://env/prod'])).toStrictEqual({
      kind: 'invalid',
      reason: NO_SPIFFE_ID,
      ignoredSans: 1,
    });
  });

  it('does not let a kuma:// SAN smuggle in a SPIFFE ID or a service', () => {
    const client = fromUris(['spiffe://default/web', 'kuma://team/a, URI:spiffe://other/admin']);
    const identity = identityOf(client);
    expect(identity.mesh).toBe('default');
    expect(identity.tags['kuma.io/service']).toEqual(['web']);
    expect(identity.tags.team).toBeUndefined();
  });

  it('refuses a URI SAN with a control byte', () => {
    const reason = 'certificate has a URI SAN with a control or non-ASCII byte';
    for (const bad of [
      'kuma://env/prod\nkuma.io/zone=x',
      'kuma://env/prod\t',
      'kuma://env/\u0000prod',
      'kuma://env/\u007f',
    ]) {
      expect(fromUris(['spiffe://default/web', bad])).toEqual({ kind: 'invalid', reason });
    }
  });

  it('refuses a URI SAN with a non-ASCII byte', () => {
    const sanValue = generalNames([
      uriName('spiffe://default/web'),
      uriName(Buffer.from('kuma://env/pröd', 'utf8')),
    ]);
    expect(fromSanValue(sanValue)).toEqual({
      kind: 'invalid',
      reason: 'certificate has a URI SAN with a control or non-ASCII byte',
    });
  });

  it('ignores control bytes in names that are not URIs', () => {
    const sanValue = generalNames([uriName('spiffe://default/web'), dnsName('bad\nname')]);
    expect(identityOf(fromSanValue(sanValue)).tags).toEqual({ 'kuma.io/service': ['web'] });
  });

  it('refuses an overlong URI SAN', () => {
    expect(fromUris(['spiffe://default/web', `kuma://env/${'x'.repeat(MAX_URI_BYTES)}`])).toEqual({
      kind: 'invalid',
      reason: `certificate has a URI SAN longer than ${MAX_URI_BYTES} bytes`,
    });
    const longest = `kuma://env/${'x'.repeat(MAX_URI_BYTES - 'kuma://env/'.length)}`;
    expect(fromUris(['spiffe://default/web', longest]).kind).toBe('identity');
  });

  it(`refuses more than ${MAX_SUBJECT_ALT_NAMES} names`, () => {
    const names = [uriName('spiffe://default/web')];
    for (let i = 1; i < MAX_SUBJECT_ALT_NAMES; i++) names.push(dnsName(`n${i}.local`));
    expect(fromSanValue(generalNames(names)).kind).toBe('identity');
    names.push(dnsName('one-more.local'));
    expect(fromSanValue(generalNames(names))).toEqual({
      kind: 'invalid',
      reason: `certificate has more than ${MAX_SUBJECT_ALT_NAMES} subject alternative names`,
    });
  });

  it('refuses two subjectAltName extensions', () => {
    const cert = makeWorkloadCert({
      uris: ['spiffe://default/web'],
      extraExtensions: [{ oid: SAN_OID, value: generalNames([uriName('kuma://env/prod')]) }],
    });
    expect(clientFromCertificate(cert.urlEncoded)).toEqual({
      kind: 'invalid',
      reason: 'certificate has more than one subjectAltName extension',
    });
  });

  it('refuses a malformed subjectAltName value inside a well-formed certificate', () => {
    const reason = 'certificate has a malformed subjectAltName extension';
    // GeneralNames claiming more bytes than the extension holds.
    const overrun = Uint8Array.from([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x86, 0x01, 0x61]);
    expect(fromSanValue(overrun)).toEqual({ kind: 'invalid', reason });
    // A GeneralName cut short.
    expect(fromSanValue(Uint8Array.from([0x30, 0x04, 0x86, 0x10, 0x61, 0x62]))).toEqual({
      kind: 'invalid',
      reason,
    });
    // Bytes after the GeneralNames.
    const trailing = Buffer.concat([
      generalNames([uriName('spiffe://default/web')]),
      Buffer.from([0x05, 0x00]),
    ]);
    expect(fromSanValue(trailing)).toEqual({ kind: 'invalid', reason });
    // Not a SEQUENCE.
    expect(fromSanValue(uriName('spiffe://default/web'))).toEqual({ kind: 'invalid', reason });
  });
});

describe('readUriSans on hand-built structures', () => {
  const algorithm = seq(oid('1.2.840.10045.4.3.2'));
  const spki = seq(seq(oid('1.2.840.10045.2.1')), tlv(0x03, Uint8Array.of(0, 4)));
  const validity = seq(tlv(0x17, Buffer.from('260101000000Z')), tlv(0x17, Buffer.from('270101000000Z')));
  /** The to-be-signed part, `tail` (extensions) after the subject's key. */
  const toBeSigned = (...tail: Uint8Array[]): Uint8Array =>
    seq(
      tlv(0xa0, smallInteger(2)),
      smallInteger(1),
      algorithm,
      name('ca'),
      validity,
      name(undefined),
      spki,
      ...tail,
    );
  const certificate = (...tail: Uint8Array[]): Uint8Array =>
    seq(toBeSigned(...tail), algorithm, tlv(0x03, Uint8Array.of(0)));
  const sanExtension = (value: Uint8Array): Uint8Array => seq(oid(SAN_OID), octets(value));

  it('reads URIs in order, exactly as encoded', () => {
    const der = certificate(
      tlv(
        0xa3,
        seq(sanExtension(generalNames([uriName('spiffe://default/a'), dnsName('x'), uriName('kuma://k/v')]))),
      ),
    );
    expect(readUriSans(der)).toEqual({ ok: true, uris: ['spiffe://default/a', 'kuma://k/v'] });
  });

  it('finds no names in a certificate without extensions', () => {
    expect(readUriSans(certificate())).toEqual({ ok: true, uris: [] });
  });

  it('skips other extensions', () => {
    const der = certificate(
      tlv(
        0xa3,
        seq(
          seq(oid('2.5.29.14'), octets(octets(Uint8Array.of(1)))),
          sanExtension(generalNames([uriName('u:1')])),
        ),
      ),
    );
    expect(readUriSans(der)).toEqual({ ok: true, uris: ['u:1'] });
  });

  it('refuses every truncation and never throws', () => {
    const der = certificate(tlv(0xa3, seq(sanExtension(generalNames([uriName('spiffe://default/a')])))));
    for (let cut = 0; cut < der.length; cut++) {
      const result = readUriSans(der.subarray(0, cut));
      expect(result.ok).toBe(false);
    }
  });

  it('names the broken part', () => {
    expect(readUriSans(Uint8Array.of(0x30, 0x84, 0x7f, 0xff, 0xff, 0xff))).toEqual({
      ok: false,
      reason: 'certificate has a malformed certificate structure',
    });
    expect(readUriSans(certificate(tlv(0xa3, seq(seq(octets(Uint8Array.of(1)))))))).toEqual({
      ok: false,
      reason: 'certificate has a malformed extension list',
    });
    expect(readUriSans(certificate(tlv(0xa3, seq(seq(oid(SAN_OID), smallInteger(1))))))).toEqual({
      ok: false,
      reason: 'certificate has a malformed subjectAltName extension',
    });
  });

  it('checks the outline of the certificate', () => {
    const reason = 'certificate has a malformed certificate structure';
    const tbs = toBeSigned();
    expect(readUriSans(seq(tbs, algorithm)), 'no signature').toEqual({ ok: false, reason });
    expect(
      readUriSans(seq(tbs, algorithm, tlv(0x03, Uint8Array.of(0)), smallInteger(0))),
      'extra field',
    ).toEqual({
      ok: false,
      reason,
    });
    const swapped = seq(
      seq(smallInteger(1), tlv(0xa0, smallInteger(2)), algorithm),
      algorithm,
      tlv(0x03, Uint8Array.of(0)),
    );
    expect(readUriSans(swapped), 'version after serial').toEqual({ ok: false, reason });
    const subjectId = tlv(0x82, Uint8Array.of(0));
    const sans = tlv(0xa3, seq(sanExtension(generalNames([uriName('u:1')]))));
    expect(readUriSans(certificate(subjectId, sans))).toEqual({ ok: true, uris: ['u:1'] });
    expect(readUriSans(certificate(sans, subjectId)), '[2] after [3]').toEqual({ ok: false, reason });
    expect(readUriSans(certificate(tlv(0x83, Uint8Array.of(0)))), 'primitive [3]').toEqual({
      ok: false,
      reason,
    });
  });

  it('refuses two extension lists', () => {
    const list = tlv(0xa3, seq(sanExtension(generalNames([uriName('u:1')]))));
    expect(readUriSans(certificate(list, list)).ok).toBe(false);
  });
});
