/**
 * Certificates as a mesh issues them: a CA, Kuma-style workload certificates (URI SANs), TLS server
 * and client certificates, and a leaf + intermediate chain. Built with node:crypto (ECDSA P-256,
 * SHA-256) and the small encoder in der.mjs, so everything is synchronous and needs no openssl;
 * keys are generated once per role per process, so a caller can mint hundreds of certificates
 * quickly.
 *
 * `urlEncoded` is byte-for-byte what Envoy puts in `attributes.source.certificate` with
 * `include_peer_certificate: true`: the PEM as OpenSSL's PEM_write_bio_X509 writes it (64-character
 * lines, a trailing newline) with `\n`, ` `, `+`, `/` and `=` replaced by `%0A`, `%20`, `%2B`, `%2F`
 * and `%3D`, and nothing else touched.
 */
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
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
} from './der.mjs';

export { dnsName, generalNames, tlv, uriName } from './der.mjs';

/**
 * @typedef {object} Ca
 * @property {string} name
 * @property {string} certPem
 * @property {string} keyPem
 * @property {Uint8Array} der
 * @property {import('node:crypto').KeyObject} privateKey
 * @property {Uint8Array} keyId DER SubjectPublicKeyInfo's hash, used as key identifier.
 */

/**
 * @typedef {object} WorkloadCert
 * @property {string} pem PEM of the leaf, as OpenSSL writes it.
 * @property {string} urlEncoded The PEM URL-encoded the way Envoy does (`attributes.source.certificate`).
 * @property {Uint8Array} der
 */

/**
 * @typedef {object} KeyPairPem
 * @property {string} certPem
 * @property {string} keyPem
 */

/**
 * @typedef {object} Chain
 * @property {string} pem Leaf then intermediate, concatenated.
 * @property {string} urlEncoded Each certificate URL-encoded as Envoy does, concatenated (Envoy's chain form).
 * @property {string} leafPem
 * @property {string} intermediatePem
 * @property {Ca} root
 */

/**
 * A raw certificate extension, for certificates no well-behaved CA would issue.
 * @typedef {object} RawExtension
 * @property {string} oid
 * @property {boolean} [critical]
 * @property {Uint8Array} value The extension value (the DER inside extnValue's OCTET STRING).
 */

/**
 * @typedef {object} WorkloadCertOptions
 * @property {readonly string[]} uris
 * @property {Ca} [ca]
 * @property {readonly string[]} [dnsNames]
 * @property {string} [commonName]
 * @property {Uint8Array} [sanValue] DER of a GeneralNames to use verbatim as the subjectAltName value (replaces uris/dnsNames).
 * @property {readonly RawExtension[]} [extraExtensions] Appended after the subjectAltName extension, e.g. a second subjectAltName.
 */

const OID = Object.freeze({
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
});

/** keyUsage bits, first byte of the BIT STRING. */
const KU = Object.freeze({ digitalSignature: 0x80, keyEncipherment: 0x20, keyCertSign: 0x04, cRLSign: 0x02 });
const HOUR_MS = 3_600_000;

// ---------------------------------------------------------------------------------------------
// Text forms

/** @type {Readonly<Record<string, string>>} */
const ENVOY_ESCAPES = { '\n': '%0A', ' ': '%20', '+': '%2B', '/': '%2F', '=': '%3D' };

/**
 * Replaces exactly the characters Envoy replaces in `urlEncodedPemEncodedPeerCertificate()`.
 * @param {string} pem
 * @returns {string}
 */
export function envoyUrlEncode(pem) {
  return pem.replace(/[\n +/=]/g, (c) => ENVOY_ESCAPES[c] ?? c);
}

/**
 * PEM exactly as OpenSSL's PEM_write_bio_X509 writes it.
 * @param {Uint8Array} der
 * @param {string} [label]
 * @returns {string}
 */
export function pemFromDer(der, label = 'CERTIFICATE') {
  const base64 = Buffer.from(der).toString('base64');
  let body = '';
  for (let i = 0; i < base64.length; i += 64) body += `${base64.slice(i, i + 64)}\n`;
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

// ---------------------------------------------------------------------------------------------
// Building blocks

/**
 * @typedef {object} KeyPair
 * @property {import('node:crypto').KeyObject} privateKey
 * @property {Uint8Array} spki
 * @property {Uint8Array} keyId
 * @property {string} keyPem
 */

/** @type {Map<string, KeyPair>} */
const keyCache = new Map();

/**
 * One P-256 key pair per role, generated on first use.
 * @param {string} role
 * @returns {KeyPair}
 */
function keysFor(role) {
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

/**
 * @param {string} id
 * @param {boolean} critical
 * @param {Uint8Array} value
 * @returns {Uint8Array}
 */
function extension(id, critical, value) {
  return critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
}

/**
 * @param {number} bits
 * @returns {Uint8Array}
 */
function keyUsage(bits) {
  let unused = 0;
  while (unused < 7 && (bits & (1 << unused)) === 0) unused++;
  return extension(OID.keyUsage, true, bitString(Uint8Array.of(bits), unused));
}

/** @type {(ca: boolean, pathLength?: number) => Uint8Array} */
const basicConstraints = (ca, pathLength) =>
  extension(
    OID.basicConstraints,
    true,
    ca ? seq(bool(true), ...(pathLength === undefined ? [] : [smallInteger(pathLength)])) : seq(),
  );

/** @type {(...purposes: string[]) => Uint8Array} */
const extKeyUsage = (...purposes) => extension(OID.extKeyUsage, false, seq(...purposes.map(oid)));

/**
 * @typedef {object} Issuer
 * @property {string} commonName
 * @property {import('node:crypto').KeyObject} privateKey
 * @property {Uint8Array} keyId
 */

/**
 * Signs a v3 certificate for `keys` with the issuer's key.
 * @param {Issuer} issuer
 * @param {string | undefined} subjectCommonName
 * @param {KeyPair} keys
 * @param {readonly Uint8Array[]} extensions
 * @returns {Uint8Array}
 */
function issue(issuer, subjectCommonName, keys, extensions) {
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

/** @type {Map<string, Ca>} */
const caCache = new Map();

/**
 * A CA, issued by `parent` (with path length 0) or self-signed; the same name gives the same CA
 * for the life of the process.
 * @param {string} caName
 * @param {Ca} [parent]
 * @returns {Ca}
 */
function caNamed(caName, parent) {
  let ca = caCache.get(caName);
  if (ca === undefined) {
    const keys = keysFor(`ca:${caName}`);
    const issuer =
      parent === undefined ? { commonName: caName, ...keys } : { commonName: parent.name, ...parent };
    const der = issue(issuer, caName, keys, [
      parent === undefined ? basicConstraints(true) : basicConstraints(true, 0),
      keyUsage(KU.keyCertSign | KU.cRLSign),
    ]);
    ca = { name: caName, certPem: pemFromDer(der), der, ...keys };
    caCache.set(caName, ca);
  }
  return ca;
}

/**
 * A self-signed root CA; the same name gives the same CA for the life of the process.
 * @param {string} [caName]
 * @returns {Ca}
 */
export function makeCa(caName = 'mtp-authz test CA') {
  return caNamed(caName);
}

// ---------------------------------------------------------------------------------------------
// Leaves

/**
 * A workload certificate as Kuma issues them: URI SANs (spiffe://, kuma://), optional DNS SANs.
 * @param {WorkloadCertOptions} options
 * @returns {WorkloadCert}
 */
export function makeWorkloadCert(options) {
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

/**
 * A TLS server certificate for a listener (DNS and IP SANs).
 * @param {Ca} ca
 * @param {{ dnsNames?: readonly string[]; ips?: readonly string[] }} [options]
 * @returns {KeyPairPem}
 */
export function makeServerCert(ca, options = {}) {
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

/**
 * A TLS client certificate (what an Envoy presents to a `--grpc-tls-client-ca` listener).
 * @param {Ca} ca
 * @param {{ commonName?: string; uris?: readonly string[] }} [options]
 * @returns {KeyPairPem}
 */
export function makeClientCert(ca, options = {}) {
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

/**
 * A leaf issued by an intermediate, itself issued by a root: leaf + intermediate PEMs.
 * @param {Omit<WorkloadCertOptions, 'ca'>} options
 * @returns {Chain}
 */
export function makeChain(options) {
  const root = makeCa('mtp-authz test root');
  const intermediate = caNamed('mtp-authz test intermediate', root);
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

/** @type {string | undefined} */
let tempDir;

/**
 * Writes `content` to `<per-process temp dir>/<fileName>` and returns the path (removed at exit).
 * @param {string} fileName
 * @param {string} content
 * @returns {string}
 */
export function writeTempPem(fileName, content) {
  if (tempDir === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'mtp-authz-certs-'));
    tempDir = dir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  const path = join(tempDir, fileName);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}
