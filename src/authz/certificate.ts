/**
 * Client identity from the peer certificate Envoy forwards in `attributes.source.certificate`
 * (`include_peer_certificate: true`): the leaf as PEM, URL-encoded by Envoy (`\n`, ` `, `+`, `/`,
 * `=` become `%0A`, `%20`, `%2B`, `%2F`, `%3D`).
 *
 * The URI SANs are read from the DER itself, one GeneralName at a time, never from Node's
 * `subjectAltName` display string: a SAN whose text contains `, URI:kuma://env/prod` is one URI, and
 * must not become a second one. Runs once per distinct certificate (an identity cache sits in
 * front), never throws, and bounds its work.
 *
 * The first PEM block is decoded to DER once and walked once: the outline of the Certificate and
 * TBSCertificate (every required field present, in order, lengths nested exactly, nothing after
 * the signature) and then the extensions. Node's X509Certificate is not used on this path: it cost
 * ~130 µs per new certificate (nearly all of a cache miss) and checks nothing the decision reads —
 * Envoy has already verified this certificate in the TLS handshake before forwarding it; what
 * mtp-authz must get right is which URI SANs it holds, and that is this walk's job either way.
 *
 * Choices, all on the safe side:
 * - Raw PEM (real newlines, no percent-escapes) is accepted too: URL-decoding leaves it unchanged,
 *   and it is what `explain --client-cert` and `POST /explain` hand over.
 * - Several PEM blocks (a chain): the first CERTIFICATE block is the peer, as in every chain order
 *   TLS and PEM bundles use (leaf first). The others are ignored, never merged.
 * - A URI SAN with a control or non-ASCII byte makes the whole certificate invalid (deny) rather
 *   than being skipped: an IA5String cannot hold non-ASCII, no CA issues such a SAN, skipping it could
 *   hide a SPIFFE ID of another mesh, and control bytes would corrupt the identity and cache keys.
 * - More URI SANs than `--max-certificate-sans` (the walk stops at the first one too many), more
 *   than MAX_SUBJECT_ALT_NAMES names of any kind, a URI over MAX_URI_BYTES, two subjectAltName
 *   extensions (RFC 5280 forbids repeating an extension) or any malformed DER: invalid.
 * - A PEM block without its END line, or with anything but base64 and line breaks inside: invalid.
 * - A certificate without a valid SPIFFE ID is invalid, never "no client" (see identity.ts).
 */
import {
  clientFromUris,
  DEFAULT_IDENTITY_LIMITS,
  type IdentityLimits,
  invalidClient,
  NO_CLIENT,
  tooManySans,
} from '../decision/identity.js';
import type { Client } from '../decision/types.js';
import { contentEquals, DER, readTagged, readTlv } from './der.js';

/** Largest accepted `attributes.source.certificate`, in characters (1000 SANs of ~35 bytes: ~55 K). */
export const MAX_CERTIFICATE_CHARS = 256 * 1024;
/** Most GeneralNames (of any kind) read from one subjectAltName. */
export const MAX_SUBJECT_ALT_NAMES = 1000;
/** Longest URI SAN accepted, in bytes. */
export const MAX_URI_BYTES = 2048;

const PEM_BEGIN = '-----BEGIN CERTIFICATE-----';
const PEM_END = '-----END CERTIFICATE-----';
/** 2.5.29.17, the contents of the subjectAltName OID. */
const SUBJECT_ALT_NAME_OID = Uint8Array.of(0x55, 0x1d, 0x11);

export type UriSans =
  | { readonly ok: true; readonly uris: readonly string[] }
  | { readonly ok: false; readonly reason: string; readonly tooMany?: true };

/**
 * The client a forwarded certificate identifies. An empty string (no certificate) is no client;
 * everything else is an identity or invalid.
 */
export function clientFromCertificate(
  urlEncodedPem: string,
  limits: IdentityLimits = DEFAULT_IDENTITY_LIMITS,
): Client {
  if (urlEncodedPem === '') return NO_CLIENT;
  if (urlEncodedPem.length > MAX_CERTIFICATE_CHARS) {
    return invalidClient(`certificate is larger than ${MAX_CERTIFICATE_CHARS} characters`);
  }
  let pem = urlEncodedPem;
  if (pem.includes('%')) {
    try {
      pem = decodeURIComponent(pem);
    } catch {
      return invalidClient('certificate is not valid URL-encoded text');
    }
  }
  const der = derOfFirstCertificate(pem);
  if (typeof der === 'string') return invalidClient(der);
  const sans = readUriSans(der, limits.maxUriSans);
  if (!sans.ok) {
    if (sans.tooMany) return tooManySans('certificate', limits);
    return invalidClient(sans.reason === NOT_A_CERTIFICATE ? NOT_X509 : sans.reason);
  }
  return clientFromUris(sans.uris, limits);
}

/** The DER of the first `CERTIFICATE` PEM block, or the reason there is none. */
function derOfFirstCertificate(pem: string): Buffer | string {
  const begin = pem.indexOf(PEM_BEGIN);
  if (begin < 0) return 'certificate is not a PEM certificate';
  const bodyStart = begin + PEM_BEGIN.length;
  const bodyEnd = pem.indexOf(PEM_END, bodyStart);
  if (bodyEnd < 0) return 'certificate PEM block has no END line';
  if (!isBase64Body(pem, bodyStart, bodyEnd)) return 'certificate PEM block is not valid base64';
  return Buffer.from(pem.slice(bodyStart, bodyEnd), 'base64');
}

/** Base64 characters and line breaks only, with padding (if any) at the end. */
function isBase64Body(text: string, start: number, end: number): boolean {
  let padding = 0;
  let data = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a || c === 0x0d) continue;
    if (c === 0x3d /* = */) {
      padding++;
      continue;
    }
    const base64 =
      (c >= 0x41 && c <= 0x5a) ||
      (c >= 0x61 && c <= 0x7a) ||
      (c >= 0x30 && c <= 0x39) ||
      c === 0x2b ||
      c === 0x2f;
    if (!base64 || padding > 0) return false;
    data++;
  }
  return data > 0 && padding <= 2 && (data + padding) % 4 === 0;
}

const malformed = (what: string): UriSans => ({ ok: false, reason: `certificate has a malformed ${what}` });
const NOT_A_CERTIFICATE = 'certificate has a malformed certificate structure';
const NOT_X509 = 'certificate does not parse as X.509';

interface Range {
  readonly start: number;
  readonly end: number;
}

/** TBSCertificate fields after the optional version: serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo. */
const TBS_REQUIRED = [DER.integer, DER.sequence, DER.sequence, DER.sequence, DER.sequence, DER.sequence];

/**
 * Checks the certificate's outline and finds its extension list: the contents of the `[3]`
 * SEQUENCE; null when there is none; undefined when the outline is not that of a certificate.
 *
 *   Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm SEQUENCE, signatureValue BIT STRING }
 *   TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer, validity,
 *     subject, subjectPublicKeyInfo, [1] issuerUniqueID OPTIONAL, [2] subjectUniqueID OPTIONAL,
 *     [3] extensions OPTIONAL }
 */
function extensionList(der: Uint8Array): Range | null | undefined {
  const certificate = readTagged(der, 0, der.length, DER.sequence);
  if (certificate === undefined || certificate.end !== der.length) return undefined;
  const tbs = readTagged(der, certificate.start, certificate.end, DER.sequence);
  if (tbs === undefined) return undefined;
  const algorithm = readTagged(der, tbs.end, certificate.end, DER.sequence);
  if (algorithm === undefined) return undefined;
  const signature = readTagged(der, algorithm.end, certificate.end, DER.bitString);
  if (signature === undefined || signature.end !== certificate.end) return undefined;

  let offset = tbs.start;
  const version = readTagged(der, offset, tbs.end, DER.tbsVersion);
  if (version !== undefined) offset = version.end;
  for (const tag of TBS_REQUIRED) {
    const field = readTagged(der, offset, tbs.end, tag);
    if (field === undefined) return undefined;
    offset = field.end;
  }
  let extensions: Range | null = null;
  for (let lastNumber = 0; offset < tbs.end;) {
    // Only [1], [2], [3] may follow, each at most once, in that order.
    const field = readTlv(der, offset, tbs.end);
    if (field === undefined) return undefined;
    const number = field.tag & 0x1f;
    if ((field.tag & 0xc0) !== 0x80 || number <= lastNumber || number > 3) return undefined;
    lastNumber = number;
    if (number === 3) {
      const list =
        field.tag === DER.tbsExtensions ? readTagged(der, field.start, field.end, DER.sequence) : undefined;
      if (list === undefined || list.end !== field.end) return undefined;
      extensions = list;
    }
    offset = field.end;
  }
  return extensions;
}

/**
 * Every `uniformResourceIdentifier` of the certificate's subjectAltName, in order, exactly as
 * encoded. Certificate → TBSCertificate → `[3]` extensions → subjectAltName → GeneralNames.
 * More than `maxUris` URIs: refused (`tooMany`) as soon as the first one too many is seen.
 */
export function readUriSans(der: Uint8Array, maxUris = Number.MAX_SAFE_INTEGER): UriSans {
  const extensions = extensionList(der);
  if (extensions === undefined) return { ok: false, reason: NOT_A_CERTIFICATE };
  if (extensions === null) return { ok: true, uris: [] };

  let names: Range | undefined;
  for (let offset = extensions.start; offset < extensions.end;) {
    // Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
    const extension = readTagged(der, offset, extensions.end, DER.sequence);
    if (extension === undefined) return malformed('extension list');
    offset = extension.end;
    const id = readTagged(der, extension.start, extension.end, DER.oid);
    if (id === undefined) return malformed('extension list');
    if (!contentEquals(der, id, SUBJECT_ALT_NAME_OID)) continue;
    if (names !== undefined)
      return { ok: false, reason: 'certificate has more than one subjectAltName extension' };
    let next = readTlv(der, id.end, extension.end);
    if (next?.tag === DER.boolean) next = readTlv(der, next.end, extension.end);
    if (next === undefined || next.tag !== DER.octetString || next.end !== extension.end) {
      return malformed('subjectAltName extension');
    }
    const generalNames = readTagged(der, next.start, next.end, DER.sequence);
    if (generalNames === undefined || generalNames.end !== next.end)
      return malformed('subjectAltName extension');
    names = generalNames;
  }
  if (names === undefined) return { ok: true, uris: [] };
  return readUris(der, names.start, names.end, maxUris);
}

/** The URIs among the GeneralNames in `[start, end)`. */
function readUris(der: Uint8Array, start: number, end: number, maxUris: number): UriSans {
  const bytes = Buffer.isBuffer(der) ? der : Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  const uris: string[] = [];
  let count = 0;
  for (let offset = start; offset < end;) {
    const name = readTlv(der, offset, end);
    if (name === undefined) return malformed('subjectAltName extension');
    offset = name.end;
    if (++count > MAX_SUBJECT_ALT_NAMES) {
      return {
        ok: false,
        reason: `certificate has more than ${MAX_SUBJECT_ALT_NAMES} subject alternative names`,
      };
    }
    if (name.tag !== DER.uniformResourceIdentifier) continue;
    if (uris.length >= maxUris) {
      return { ok: false, reason: `certificate has more than ${maxUris} URI SANs`, tooMany: true };
    }
    if (name.end - name.start > MAX_URI_BYTES) {
      return { ok: false, reason: `certificate has a URI SAN longer than ${MAX_URI_BYTES} bytes` };
    }
    for (let i = name.start; i < name.end; i++) {
      const byte = der[i] ?? 0;
      if (byte < 0x20 || byte > 0x7e) {
        return { ok: false, reason: 'certificate has a URI SAN with a control or non-ASCII byte' };
      }
    }
    uris.push(bytes.toString('latin1', name.start, name.end));
  }
  return { ok: true, uris };
}
