/**
 * A decoded CheckRequest → the decision's inputs (SPEC §2.4, §2.5). Identity comes from the peer
 * certificate or the peer principal that Envoy verified, never from request headers.
 */

import { clientFromPrincipal, makeDestination, NO_CLIENT, parseTagList } from '../decision/identity.js';
import type { Client, Destination } from '../decision/types.js';
import { SERVICE_TAG } from '../policy/types.js';
import type { CheckRequestView } from './codec.js';

/** Reads the client identity from a URL-encoded PEM certificate. */
export type CertificateReader = (urlEncodedPem: string) => Client;

export interface HttpAttributes {
  readonly method: string;
  readonly host: string;
  readonly path: string;
  /** `x-request-id`, else Envoy's request id ('' when neither). */
  readonly requestId: string;
}

export interface CheckInput {
  /** undefined when the request names no usable destination (→ Deny, via no-destination). */
  readonly destination: Destination | undefined;
  readonly client: Client;
  /** Present for the HTTP filter; the network filter sends no request attributes. */
  readonly http: HttpAttributes | undefined;
}

const SPIFFE = 'spiffe://';

/** `spiffe://<mesh>/<service>` → [mesh, service] (as identity.ts reads SPIFFE IDs); else undefined. */
export function parseDestinationPrincipal(principal: string): [string, string] | undefined {
  if (!principal.startsWith(SPIFFE)) return undefined;
  const rest = principal.slice(SPIFFE.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1) return undefined;
  return [rest.slice(0, slash), rest.slice(slash + 1)];
}

/**
 * The destination inbound. Tags come from the first source present: the per-route context
 * extension, then the `x-mtp-destination-tags` gRPC metadata, then the peer labels. A source that
 * is present but malformed makes the destination unusable; sources are never merged.
 */
export function destinationOf(
  view: CheckRequestView,
  tagsMetadata: string | undefined,
): Destination | undefined {
  const memoKey = destinationMemoKey(view, tagsMetadata);
  const known = destinationMemo.get(memoKey);
  if (known !== undefined) return known ?? undefined;
  const destination = buildDestination(view, tagsMetadata);
  if (destinationMemo.size >= DESTINATION_MEMO_SIZE) destinationMemo.clear();
  destinationMemo.set(memoKey, destination ?? null);
  return destination;
}

/**
 * Destinations repeat (one sidecar fronts a few inbounds), and building one parses tag text and
 * makes a canonical key: remember them by what they were built from. Destinations are immutable.
 */
const destinationMemo = new Map<string, Destination | null>();
const DESTINATION_MEMO_SIZE = 4096;

/**
 * Everything buildDestination reads, each piece length-prefixed (so no choice of bytes makes two
 * different requests share a key), with the source of the tags marked (they are never merged).
 */
function destinationMemoKey(view: CheckRequestView, tagsMetadata: string | undefined): string {
  const head = `${view.destinationPrincipal.length}:${view.destinationPrincipal}`;
  if (view.destinationTagsExtension !== undefined) return `e${head}${view.destinationTagsExtension}`;
  if (tagsMetadata !== undefined) return `m${head}${tagsMetadata}`;
  if (view.destinationLabels === undefined) return `n${head}`;
  let key = `l${head}`;
  for (const [k, v] of view.destinationLabels) key += `${k.length}:${k}${v.length}:${v}`;
  return key;
}

function buildDestination(view: CheckRequestView, tagsMetadata: string | undefined): Destination | undefined {
  const principal = parseDestinationPrincipal(view.destinationPrincipal);
  if (principal === undefined) return undefined;
  const [mesh, service] = principal;
  let tags: Map<string, string> | undefined;
  if (view.destinationTagsExtension !== undefined) tags = parseTagList(view.destinationTagsExtension);
  else if (tagsMetadata !== undefined) tags = parseTagList(tagsMetadata);
  else tags = view.destinationLabels === undefined ? new Map() : new Map(view.destinationLabels);
  if (tags === undefined) return undefined;
  // The service the local certificate proves is authoritative over any tag text.
  tags.set(SERVICE_TAG, service);
  return makeDestination(mesh, tags);
}

/** The caller: its certificate if Envoy forwarded one, else its SPIFFE principal, else nobody. */
export function clientOf(view: CheckRequestView, readCertificate: CertificateReader): Client {
  if (view.sourceCertificate !== '') return readCertificate(view.sourceCertificate);
  if (view.sourcePrincipal !== '') return clientFromPrincipal(view.sourcePrincipal);
  return NO_CLIENT;
}

export function checkInputOf(
  view: CheckRequestView,
  tagsMetadata: string | undefined,
  readCertificate: CertificateReader,
): CheckInput {
  const http = view.http;
  return {
    destination: destinationOf(view, tagsMetadata),
    client: clientOf(view, readCertificate),
    http:
      http === undefined
        ? undefined
        : { method: http.method, host: http.host, path: http.path, requestId: http.requestId || http.id },
  };
}
