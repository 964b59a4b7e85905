/**
 * Client identity from URI SANs, the way Kuma's generated Envoy RBAC reads them (see san.ts for
 * which SANs count): `spiffe://<mesh>/<service>` names the mesh and a service, `kuma://<key>/<value>`
 * a tag. Every other SAN adds nothing and is counted as ignored.
 */
import { parseSan } from './san.js';
import { type Client, type ClientIdentity, type Destination, SERVICE_TAG } from './types.js';

export const NO_CLIENT: Client = Object.freeze({ kind: 'none' });

export function invalidClient(reason: string): Client {
  return { kind: 'invalid', reason };
}

/** Bounds on what one client may present (`--max-certificate-sans`). */
export interface IdentityLimits {
  /** Most URI SANs accepted; a client with more is invalid. */
  readonly maxUriSans: number;
}

export const DEFAULT_MAX_URI_SANS = 256;
export const DEFAULT_IDENTITY_LIMITS: IdentityLimits = Object.freeze({ maxUriSans: DEFAULT_MAX_URI_SANS });

export const NO_SPIFFE_ID = 'no URI SAN is a valid SPIFFE ID (spiffe://<trust-domain>/<path>)';

/** The invalid client of a certificate (`what`) or SAN list with more URI SANs than allowed. */
export function tooManySans(what: string, limits: IdentityLimits): Client {
  return {
    kind: 'invalid',
    reason: `${what} has more than ${limits.maxUriSans} URI SANs (--max-certificate-sans)`,
    cause: 'too-many-sans',
  };
}

/**
 * Builds the identity carried by the URI SANs a client presented. SPIFFE IDs must agree on the
 * trust domain. Presented SANs without any valid SPIFFE ID are an invalid identity, never "no
 * client": only a client that presented nothing is plaintext.
 */
export function clientFromUris(
  uris: readonly string[],
  limits: IdentityLimits = DEFAULT_IDENTITY_LIMITS,
): Client {
  if (uris.length > limits.maxUriSans) return tooManySans('client', limits);
  let mesh: string | undefined;
  let conflict: string | undefined;
  let ignoredSans = 0;
  const tags = new Map<string, readonly string[]>();
  // One value: the shared frozen list; a second distinct value: a list of this identity's own.
  const add = (key: string, value: string): void => {
    const values = tags.get(key);
    if (values === undefined) tags.set(shared.text(key), shared.list(value));
    else if (!values.includes(value)) tags.set(key, [...values, value]);
  };
  for (const uri of uris) {
    const san = parseSan(uri);
    if (san.kind === 'ignored') {
      ignoredSans++;
    } else if (san.kind === 'tag') {
      add(san.key, san.value);
    } else {
      if (mesh === undefined) mesh = san.trustDomain;
      else if (mesh !== san.trustDomain) {
        conflict ??= `SPIFFE IDs name different meshes ("${mesh}" and "${san.trustDomain}")`;
      }
      if (san.service !== undefined) add(SERVICE_TAG, san.service);
    }
  }
  if (conflict !== undefined) return invalid(conflict, ignoredSans);
  if (mesh === undefined) return invalid(NO_SPIFFE_ID, ignoredSans);
  const identity = makeIdentity(shared.text(mesh), tags, uris);
  return ignoredSans === 0 ? { kind: 'identity', identity } : { kind: 'identity', identity, ignoredSans };
}

function invalid(reason: string, ignoredSans: number): Client {
  return ignoredSans === 0 ? { kind: 'invalid', reason } : { kind: 'invalid', reason, ignoredSans };
}

/**
 * Identities stay in the identity cache by the thousand, and most of their texts repeat: tag keys,
 * common values (`prod`, `zone-1`), the mesh. Each is kept once, as is each one-value list (frozen,
 * since identities share it). Bounded: the table starts over when full, which costs only sharing.
 */
class SharedTexts {
  static readonly MAX = 4096;
  readonly #texts = new Map<string, string>();
  readonly #lists = new Map<string, readonly string[]>();

  text(text: string): string {
    const known = this.#texts.get(text);
    if (known !== undefined) return known;
    if (this.#texts.size >= SharedTexts.MAX) this.#texts.clear();
    this.#texts.set(text, text);
    return text;
  }

  list(value: string): readonly string[] {
    const known = this.#lists.get(value);
    if (known !== undefined) return known;
    if (this.#lists.size >= SharedTexts.MAX) this.#lists.clear();
    const list = Object.freeze([this.text(value)]);
    this.#lists.set(list[0] as string, list);
    return list;
  }
}

const shared = new SharedTexts();

/**
 * `source.principal` fallback: a lone SPIFFE ID gives mesh + service. Envoy sets a principal only
 * for a peer that presented a certificate, so one that is not a valid SPIFFE ID is invalid.
 */
export function clientFromPrincipal(principal: string): Client {
  if (principal === '') return NO_CLIENT;
  const client = clientFromUris([principal]);
  return client.kind === 'invalid' ? PRINCIPAL_NOT_SPIFFE : client;
}

const PRINCIPAL_NOT_SPIFFE: Client = Object.freeze({
  kind: 'invalid',
  reason: 'source.principal is not a valid SPIFFE ID',
});

/** `sans`: the URI SANs as presented (all of them, in order); none for an identity built by hand. */
export function makeIdentity(
  mesh: string,
  tags: ReadonlyMap<string, readonly string[]>,
  sans: readonly string[] = [],
): ClientIdentity {
  let multiValued = false;
  const canonical: [string, string[]][] = [];
  for (const k of [...tags.keys()].sort()) {
    const values = [...(tags.get(k) ?? [])].sort();
    if (values.length > 1) multiValued = true;
    canonical.push([k, values]);
  }
  // JSON keeps keys and values apart whatever characters they hold. The SANs are part of the key:
  // `spec.rules` decide on their exact text and order.
  return { mesh, tags, multiValued, key: JSON.stringify([mesh, canonical, sans]), sans };
}

/** A destination inbound; `tags` must hold `kuma.io/service`. */
export function makeDestination(mesh: string, tags: ReadonlyMap<string, string>, sni?: string): Destination {
  const canonical = [...tags.keys()].sort().map((k) => [k, tags.get(k)]);
  if (sni === undefined) return { mesh, tags, key: JSON.stringify([mesh, canonical]) };
  return { mesh, tags, sni, key: JSON.stringify([mesh, canonical, sni]) };
}

/**
 * Parses the `k1=v1,k2=v2` tag form used by context extensions, gRPC metadata and the CLI.
 * Returns undefined when the text is not of that form (an empty pair, a missing `=`, a repeated key).
 */
export function parseTagList(text: string): Map<string, string> | undefined {
  const tags = new Map<string, string>();
  if (text === '') return tags;
  for (const pair of text.split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0 || eq === pair.length - 1) return undefined;
    const key = pair.slice(0, eq);
    if (tags.has(key)) return undefined;
    tags.set(key, pair.slice(eq + 1));
  }
  return tags;
}
