/**
 * One URI SAN → what it says about the client, read exactly as Kuma's RBAC principals match it:
 * Envoy compares each SAN to `spiffe://<mesh>/<service>` or `kuma://<key>/<value>` as a whole
 * string. A SAN counts only when it is exactly of one of those forms, with key and value in the
 * tag charsets of the policy validation (a policy cannot name anything else). Nothing is trimmed,
 * decoded or normalised: a fragment, query, userinfo, port, percent-escape, space or upper-case
 * scheme makes a SAN that no principal equals, and such a SAN adds nothing.
 *
 * `spiffe://` IDs follow the SPIFFE ID rules (lower-case trust domain; path segments of letters,
 * digits, `.`, `-`, `_`; no empty, `.` or `..` segment) so that MeshIdentity layouts such as
 * `spiffe://<mesh>.<zone>.mesh.local/ns/<ns>/sa/<sa>` still name their trust domain. A one-segment
 * path in the tag-value charset is also the `kuma.io/service` tag, as Kuma issues it.
 */
import { SERVICE_TAG } from './types.js';

export type San =
  | {
      readonly kind: 'spiffe';
      readonly trustDomain: string;
      /** The `kuma.io/service` value: the path when it is one segment in the tag-value charset. */
      readonly service: string | undefined;
    }
  | { readonly kind: 'tag'; readonly key: string; readonly value: string }
  | { readonly kind: 'ignored' };

export const SPIFFE_PREFIX = 'spiffe://';
export const KUMA_PREFIX = 'kuma://';

/** SPEC §2.2: `^[a-zA-Z0-9.\-_:/]*$`, non-empty. */
const TAG_KEY = /^[a-zA-Z0-9.\-_:/]+$/;
/** SPEC §2.2: `^[a-zA-Z0-9.\-_:]*$`, non-empty. */
const TAG_VALUE = /^[a-zA-Z0-9.\-_:]+$/;
/** SPIFFE ID trust domain: lower-case letters, digits, `.`, `-`, `_`. */
const TRUST_DOMAIN = /^[a-z0-9.\-_]+$/;
/** SPIFFE ID path: `/`-separated segments of letters, digits, `.`, `-`, `_`. */
const SPIFFE_PATH = /^[a-zA-Z0-9.\-_]+(?:\/[a-zA-Z0-9.\-_]+)*$/;
/** SPIFFE: trust domains are at most 255 characters. */
const MAX_TRUST_DOMAIN = 255;

const IGNORED: San = Object.freeze({ kind: 'ignored' });

export function parseSan(uri: string): San {
  if (uri.startsWith(SPIFFE_PREFIX)) return parseSpiffeId(uri);
  if (uri.startsWith(KUMA_PREFIX)) return parseKumaTag(uri);
  return IGNORED;
}

function parseSpiffeId(uri: string): San {
  const slash = uri.indexOf('/', SPIFFE_PREFIX.length);
  if (slash < 0) return IGNORED;
  const trustDomain = uri.slice(SPIFFE_PREFIX.length, slash);
  const path = uri.slice(slash + 1);
  if (trustDomain.length > MAX_TRUST_DOMAIN || !TRUST_DOMAIN.test(trustDomain)) return IGNORED;
  // One segment in the tag-value charset (which adds `:` to SPIFFE's): Kuma's service principal.
  if (TAG_VALUE.test(path)) return { kind: 'spiffe', trustDomain, service: path };
  if (!SPIFFE_PATH.test(path)) return IGNORED;
  for (const segment of path.split('/')) if (segment === '.' || segment === '..') return IGNORED;
  return { kind: 'spiffe', trustDomain, service: undefined };
}

function parseKumaTag(uri: string): San {
  // The value charset has no `/`, so the key is everything up to the last one.
  const slash = uri.lastIndexOf('/');
  if (slash < KUMA_PREFIX.length) return IGNORED;
  const key = uri.slice(KUMA_PREFIX.length, slash);
  const value = uri.slice(slash + 1);
  if (!TAG_KEY.test(key) || !TAG_VALUE.test(value)) return IGNORED;
  // The service is proven by the SPIFFE ID only: Kuma's principal for it is never a kuma:// SAN.
  if (key === SERVICE_TAG) return IGNORED;
  return { kind: 'tag', key, value };
}

/** RFC 3986 `scheme ":"` at the start: what a SAN typed by a user must at least have. */
export function looksLikeUri(text: string): boolean {
  return /^[A-Za-z][A-Za-z0-9+.-]*:/.test(text);
}
