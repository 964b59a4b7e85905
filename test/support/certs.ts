/**
 * Test-time certificates: a CA, Kuma-style workload certificates (URI SANs), TLS server and client
 * certificates, and a leaf + intermediate chain. Built with node:crypto (ECDSA P-256, SHA-256) and
 * the small encoder in der-encode.ts, so everything is synchronous; keys are generated once per
 * role per process, so a suite can mint hundreds of certificates quickly.
 *
 * `urlEncoded` is byte-for-byte what Envoy puts in `attributes.source.certificate` with
 * `include_peer_certificate: true`: the PEM as OpenSSL's PEM_write_bio_X509 writes it (64-character
 * lines, a trailing newline) with `\n`, ` `, `+`, `/` and `=` replaced by `%0A`, `%20`, `%2B`, `%2F`
 * and `%3D`, and nothing else touched.
 */
import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bitString,
  bool,
  dnsName,
  generalNames,
  integer,
  ipName,
  name,
  octets,
  oid,
  seq,
  smallInteger,
  time,
  tlv,
  uriName,
} from './der-encode.js';

export { dnsName, generalNames, tlv, uriName } from './der-encode.js';

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** keyUsage bits, first byte of the BIT STRING. */
const KU = { digitalSignature: 0x80, keyEncipherment: 0x20, keyCertSign: 0x04, cRLSign: 0x02 } as const;
const HOUR_MS = 3_600_000;

export interface Ca {
  readonly name: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly der: Uint8Array;
  readonly privateKey: KeyObject;
  /** DER SubjectPublicKeyInfo's hash, used as key identifier. */
  readonly keyId: Uint8Array;
}

export interface WorkloadCert {
  /** PEM of the leaf, as OpenSSL writes it. */
  readonly pem: string;
  /** The PEM URL-encoded the way Envoy does (`attributes.source.certificate`). */
  readonly urlEncoded: string;
  readonly der: Uint8Array;
}

export interface KeyPairPem {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface Chain {
  /** Leaf then intermediate, concatenated. */
  readonly pem: string;
  /** Each certificate URL-encoded as Envoy does, concatenated (Envoy's chain form). */
  readonly urlEncoded: string;
  readonly leafPem: string;
  readonly intermediatePem: string;
  readonly root: Ca;
}

/** A raw certificate extension, for certificates no well-behaved CA would issue. */
export interface RawExtension {
  readonly oid: string;
  readonly critical?: boolean;
  /** The extension value (the DER inside extnValue's OCTET STRING). */
  readonly value: Uint8Array;
}

export interface WorkloadCertOptions {
  readonly uris: readonly string[];
  readonly ca?: Ca;
  readonly dnsNames?: readonly string[];
  readonly commonName?: string;
  /** DER of a GeneralNames to use verbatim as the subjectAltName value (replaces uris/dnsNames). */
  readonly sanValue?: Uint8Array;
  /** Appended after the subjectAltName extension, e.g. a second subjectAltName. */
  readonly extraExtensions?: readonly RawExtension[];
}

// ---------------------------------------------------------------------------------------------
// Text forms

/** Replaces exactly the characters Envoy replaces in `urlEncodedPemEncodedPeerCertificate()`. */
export function envoyUrlEncode(pem: string): string {
  return pem.replace(/[\n +/=]/g, (c) => ENVOY_ESCAPES[c] ?? c);
}
const ENVOY_ESCAPES: Readonly<Record<string, string>> = {
  '\n': '%0A',
  ' ': '%20',
  '+': '%2B',
  '/': '%2F',
  '=': '%3D',
};

/** PEM exactly as OpenSSL's PEM_write_bio_X509 writes it. */
export function pemFromDer(der: Uint8Array, label = 'CERTIFICATE'): string {
  const base64 = Buffer.from(der).toString('base64');
  let body = '';
  for (let i = 0; i < base64.length; i += 64) body += `${base64.slice(i, i + 64)}\n`;
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

// ---------------------------------------------------------------------------------------------
// Building blocks

interface KeyPair {
  readonly privateKey: KeyObject;
  readonly spki: Uint8Array;
  readonly keyId: Uint8Array;
  readonly keyPem: string;
}

const keyCache = new Map<string, KeyPair>();

/** One P-256 key pair per role, generated on first use. */
function keysFor(role: string): KeyPair {
  let keys = keyCache.get(role);
  if (keys === undefined) {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const spki = pair.publicKey.export({ type: 'spki', format: 'der' });
    keys = {
      privateKey: pair.privateKey,
      spki,
      keyId: createHash('sha1').update(spki).digest(),
      keyPem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    };
    keyCache.set(role, keys);
  }
  return keys;
}

function extension(id: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
}

function keyUsage(bits: number): Uint8Array {
  let unused = 0;
  while (unused < 7 && (bits & (1 << unused)) === 0) unused++;
  return extension(OID.keyUsage, true, bitString(Uint8Array.of(bits), unused));
}

const basicConstraints = (ca: boolean, pathLength?: number): Uint8Array =>
  extension(
    OID.basicConstraints,
    true,
    ca ? seq(bool(true), ...(pathLength === undefined ? [] : [smallInteger(pathLength)])) : seq(),
  );

const extKeyUsage = (...purposes: readonly string[]): Uint8Array =>
  extension(OID.extKeyUsage, false, seq(...purposes.map(oid)));

interface Issuer {
  readonly commonName: string;
  readonly privateKey: KeyObject;
  readonly keyId: Uint8Array;
}

/** Signs a v3 certificate for `keys` with the issuer's key. */
function issue(
  issuer: Issuer,
  subjectCommonName: string | undefined,
  keys: KeyPair,
  extensions: readonly Uint8Array[],
): Uint8Array {
  const algorithm = seq(oid(OID.ecdsaWithSha256));
  const serial = randomBytes(12);
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x01;
  const now = Date.now();
  const tbs = seq(
    tlv(0xa0, smallInteger(2)),
    integer(serial),
    algorithm,
    name(issuer.commonName),
    seq(time(new Date(now - HOUR_MS)), time(new Date(now + 365 * 24 * HOUR_MS))),
    name(subjectCommonName),
    keys.spki,
    tlv(
      0xa3,
      seq(
        extension(OID.subjectKeyIdentifier, false, octets(keys.keyId)),
        extension(OID.authorityKeyIdentifier, false, seq(tlv(0x80, issuer.keyId))),
        ...extensions,
      ),
    ),
  );
  const signature = sign('sha256', tbs, issuer.privateKey);
  return seq(tbs, algorithm, bitString(signature));
}

// ---------------------------------------------------------------------------------------------
// Certificate authorities

const caCache = new Map<string, Ca>();

/** A self-signed root CA; the same name gives the same CA for the life of the process. */
export function makeCa(caName = 'mtp-authz test CA'): Ca {
  let ca = caCache.get(caName);
  if (ca === undefined) {
    const keys = keysFor(`ca:${caName}`);
    const der = issue({ commonName: caName, ...keys }, caName, keys, [
      basicConstraints(true),
      keyUsage(KU.keyCertSign | KU.cRLSign),
    ]);
    ca = { name: caName, certPem: pemFromDer(der), der, ...keys };
    caCache.set(caName, ca);
  }
  return ca;
}

function makeIntermediate(root: Ca, caName: string): Ca {
  let ca = caCache.get(caName);
  if (ca === undefined) {
    const keys = keysFor(`ca:${caName}`);
    const der = issue({ commonName: root.name, ...root }, caName, keys, [
      basicConstraints(true, 0),
      keyUsage(KU.keyCertSign | KU.cRLSign),
    ]);
    ca = { name: caName, certPem: pemFromDer(der), der, ...keys };
    caCache.set(caName, ca);
  }
  return ca;
}

// ---------------------------------------------------------------------------------------------
// Leaves

/** A workload certificate as Kuma issues them: URI SANs (spiffe://, kuma://), optional DNS SANs. */
export function makeWorkloadCert(options: WorkloadCertOptions): WorkloadCert {
  const ca = options.ca ?? makeCa();
  const dnsNames = options.dnsNames ?? [];
  const extensions = [
    basicConstraints(false),
    keyUsage(KU.digitalSignature | KU.keyEncipherment),
    extKeyUsage(OID.serverAuth, OID.clientAuth),
  ];
  const sanValue =
    options.sanValue ??
    (options.uris.length + dnsNames.length > 0
      ? generalNames([...options.uris.map((uri) => uriName(uri)), ...dnsNames.map((dns) => dnsName(dns))])
      : undefined);
  // RFC 5280 §4.2.1.6: with an empty subject the SAN extension is critical.
  const sanCritical = options.commonName === undefined;
  if (sanValue !== undefined) extensions.push(extension(OID.subjectAltName, sanCritical, sanValue));
  for (const raw of options.extraExtensions ?? []) {
    extensions.push(extension(raw.oid, raw.critical ?? false, raw.value));
  }
  const der = issue({ commonName: ca.name, ...ca }, options.commonName, keysFor('workload'), extensions);
  const pem = pemFromDer(der);
  return { pem, urlEncoded: envoyUrlEncode(pem), der };
}

/** A TLS server certificate for a listener (DNS and IP SANs). */
export function makeServerCert(
  ca: Ca,
  options: { dnsNames?: readonly string[]; ips?: readonly string[] } = {},
): KeyPairPem {
  const dnsNames = options.dnsNames ?? ['localhost'];
  const ips = options.ips ?? ['127.0.0.1'];
  const keys = keysFor('server');
  const der = issue({ commonName: ca.name, ...ca }, dnsNames[0] ?? ips[0] ?? 'server', keys, [
    basicConstraints(false),
    keyUsage(KU.digitalSignature),
    extKeyUsage(OID.serverAuth),
    extension(
      OID.subjectAltName,
      false,
      generalNames([...dnsNames.map((dns) => dnsName(dns)), ...ips.map(ipName)]),
    ),
  ]);
  return { certPem: pemFromDer(der), keyPem: keys.keyPem };
}

/** A TLS client certificate (what an Envoy presents to a `--grpc-tls-client-ca` listener). */
export function makeClientCert(
  ca: Ca,
  options: { commonName?: string; uris?: readonly string[] } = {},
): KeyPairPem {
  const keys = keysFor('client');
  const extensions = [basicConstraints(false), keyUsage(KU.digitalSignature), extKeyUsage(OID.clientAuth)];
  if (options.uris !== undefined && options.uris.length > 0) {
    extensions.push(
      extension(OID.subjectAltName, false, generalNames(options.uris.map((uri) => uriName(uri)))),
    );
  }
  const der = issue({ commonName: ca.name, ...ca }, options.commonName ?? 'envoy', keys, extensions);
  return { certPem: pemFromDer(der), keyPem: keys.keyPem };
}

/** A leaf issued by an intermediate, itself issued by a root: leaf + intermediate PEMs. */
export function makeChain(options: Omit<WorkloadCertOptions, 'ca'>): Chain {
  const root = makeCa('mtp-authz test root');
  const intermediate = makeIntermediate(root, 'mtp-authz test intermediate');
  const leaf = makeWorkloadCert({ ...options, ca: intermediate });
  return {
    pem: leaf.pem + intermediate.certPem,
    urlEncoded: leaf.urlEncoded + envoyUrlEncode(intermediate.certPem),
    leafPem: leaf.pem,
    intermediatePem: intermediate.certPem,
    root,
  };
}

// ---------------------------------------------------------------------------------------------
// Files

let tempDir: string | undefined;

/** Writes `content` to `<per-process temp dir>/<fileName>` and returns the path (removed at exit). */
export function writeTempPem(fileName: string, content: string): string {
  if (tempDir === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'mtp-authz-certs-'));
    tempDir = dir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  const path = join(tempDir, fileName);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}
