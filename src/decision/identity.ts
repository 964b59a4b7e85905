/**
 * Client identity from URI SANs, the way Kuma's generated Envoy RBAC reads them:
 * `spiffe://<mesh>/<service>` names a service, `kuma://<key>/<value>` a tag (the key is the text
 * between `kuma://` and the last `/`). Any other URI is ignored.
 */
import { SERVICE_TAG } from '../policy/types.js';
import type { Client, ClientIdentity, Destination } from './types.js';

const SPIFFE = 'spiffe://';
const KUMA = 'kuma://';

export const NO_CLIENT: Client = Object.freeze({ kind: 'none' });

export function invalidClient(reason: string): Client {
  return { kind: 'invalid', reason };
}

/**
 * Builds the identity carried by a set of URI SANs. SPIFFE IDs must agree on the trust domain;
 * without any SPIFFE ID there is no mesh to check, so the SANs do not form an identity.
 */
export function clientFromUris(uris: readonly string[]): Client {
  let mesh: string | undefined;
  const tags = new Map<string, readonly string[]>();
  // One value: the shared frozen list; a second distinct value: a list of this identity's own.
  const add = (key: string, value: string): void => {
    const values = tags.get(key);
    if (values === undefined) tags.set(shared.text(key), shared.list(value));
    else if (!values.includes(value)) tags.set(key, [...values, value]);
  };
  for (const uri of uris) {
    if (uri.startsWith(SPIFFE)) {
      const rest = uri.slice(SPIFFE.length);
      const slash = rest.indexOf('/');
      if (slash <= 0 || slash === rest.length - 1) return invalidClient(`malformed SPIFFE ID "${uri}"`);
      const trustDomain = rest.slice(0, slash);
      if (mesh !== undefined && mesh !== trustDomain) {
        return invalidClient(`SPIFFE IDs name different meshes ("${mesh}" and "${trustDomain}")`);
      }
      mesh = trustDomain;
      add(SERVICE_TAG, rest.slice(slash + 1));
    } else if (uri.startsWith(KUMA)) {
      const rest = uri.slice(KUMA.length);
      const slash = rest.lastIndexOf('/');
      if (slash <= 0 || slash === rest.length - 1) continue;
      const key = rest.slice(0, slash);
      // The service is proven by the SPIFFE ID only, exactly as Kuma's RBAC principals match it.
      if (key === SERVICE_TAG) continue;
      add(key, rest.slice(slash + 1));
    }
  }
  if (mesh === undefined) return NO_CLIENT;
  return { kind: 'identity', identity: makeIdentity(shared.text(mesh), tags, uris) };
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

/** `source.principal` fallback: a lone SPIFFE ID gives mesh + service. */
export function clientFromPrincipal(principal: string): Client {
  if (!principal.startsWith(SPIFFE)) return NO_CLIENT;
  return clientFromUris([principal]);
}

export function makeIdentity(
  mesh: string,
  tags: ReadonlyMap<string, readonly string[]>,
  uris: readonly string[] = [],
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
  const sans = Object.freeze([...uris]);
  return { mesh, tags, multiValued, uris: sans, key: JSON.stringify([mesh, canonical, sans]) };
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
