/**
 * The destination inbound of a CheckRequest (SPEC §2.5): mesh and service from the destination
 * principal, tags from the first source present — the per-route context extension, then the
 * `x-mtp-destination-tags` gRPC metadata, then the peer labels. A source that is present but
 * malformed makes the destination unusable; sources are never merged.
 */
import { copyBytes, hashBytes, sameBytes } from '../decision/byte-keys.js';
import { makeDestination, parseTagList } from '../decision/identity.js';
import type { Destination } from '../decision/types.js';
import { SERVICE_TAG } from '../decision/types.js';
import { type CheckRequestView, TEXT_FIELD } from './codec.js';

const SPIFFE = 'spiffe://';

/** `spiffe://<mesh>/<service>` → [mesh, service] (as identity.ts reads SPIFFE IDs); else undefined. */
export function parseDestinationPrincipal(principal: string): [string, string] | undefined {
  if (!principal.startsWith(SPIFFE)) return undefined;
  const rest = principal.slice(SPIFFE.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1) return undefined;
  return [rest.slice(0, slash), rest.slice(slash + 1)];
}

/** Builds the destination from the request's fields (no memo). */
export function buildDestination(
  view: CheckRequestView,
  tagsMetadata: string | undefined,
): Destination | undefined {
  const principal = parseDestinationPrincipal(view.text(TEXT_FIELD.destinationPrincipal));
  if (principal === undefined) return undefined;
  const [mesh, service] = principal;
  let tags: Map<string, string> | undefined;
  if (view.has(TEXT_FIELD.destinationTagsExtension)) {
    tags = parseTagList(view.text(TEXT_FIELD.destinationTagsExtension));
  } else if (tagsMetadata !== undefined) tags = parseTagList(tagsMetadata);
  else tags = new Map(view.destinationLabels());
  if (tags === undefined) return undefined;
  // The service the local certificate proves is authoritative over any tag text.
  tags.set(SERVICE_TAG, service);
  return makeDestination(mesh, tags, view.has(SNI) ? view.text(SNI) : undefined);
}

/** What a destination was built from: the destination message's bytes, the tag source used, the SNI. */
interface Remembered {
  readonly peer: Buffer;
  readonly extension: Buffer | undefined;
  readonly sni: Buffer | undefined;
  readonly metadata: string | undefined;
  readonly destination: Destination | undefined;
}

const EXTENSION = TEXT_FIELD.destinationTagsExtension;
const SNI = TEXT_FIELD.tlsSni;

/** True when `entry` was built from exactly this request's destination bytes, tag source and SNI. */
function matches(entry: Remembered, view: CheckRequestView, metadata: string | undefined): boolean {
  if (
    entry.metadata !== metadata ||
    !sameBytes(entry.peer, view.bytes, view.destinationStart, view.destinationEnd)
  ) {
    return false;
  }
  if (view.has(SNI)) {
    if (entry.sni === undefined || !sameBytes(entry.sni, view.bytes, view.start(SNI), view.end(SNI)))
      return false;
  } else if (entry.sni !== undefined) return false;
  if (!view.has(EXTENSION)) return entry.extension === undefined;
  return (
    entry.extension !== undefined &&
    sameBytes(entry.extension, view.bytes, view.start(EXTENSION), view.end(EXTENSION))
  );
}

/** Destinations remembered before the memo starts over (a sidecar fronts a few inbounds). */
const MEMO_SIZE = 4096;
/** Remembered byte strings per hash bucket; a bucket that overflows forgets its oldest. */
const BUCKET_ENTRIES = 4;

/**
 * Resolves destinations, remembering them by the exact bytes they were built from: the destination
 * message (principal and labels) and the context-extension bytes or metadata text. A repeated
 * destination costs a hash and a byte comparison, and equal destinations come back as one shared
 * object (which lets the decision cache recognise them by reference).
 */
export class DestinationResolver {
  readonly #memo = new Map<number, Remembered[]>();
  readonly #shared = new Map<string, Destination>();
  #remembered = 0;
  /** The entry found last: consecutive calls for one inbound skip even the hash. */
  #last: Remembered | undefined;

  /** Byte strings remembered now. */
  get size(): number {
    return this.#remembered;
  }

  resolve(view: CheckRequestView, tagsMetadata: string | undefined): Destination | undefined {
    const count = view.destinationCount;
    if (count === 0) return undefined; // no destination message: no principal
    // Several destination messages (protobuf merges them; Envoy never sends that): not memoised.
    if (count > 1) return this.#share(buildDestination(view, tagsMetadata));

    const { bytes, destinationStart: peerStart, destinationEnd: peerEnd } = view;
    const hasExtension = view.has(EXTENSION);
    const extensionStart = view.start(EXTENSION);
    const extensionEnd = view.end(EXTENSION);
    // The metadata only counts when no extension is present.
    const metadata = hasExtension ? undefined : tagsMetadata;

    const last = this.#last;
    if (last !== undefined && matches(last, view, metadata)) return last.destination;

    let hash = hashBytes(bytes, peerStart, peerEnd);
    if (hasExtension) hash = hashBytes(bytes, extensionStart, extensionEnd, hash);
    if (view.has(SNI)) hash = hashBytes(bytes, view.start(SNI), view.end(SNI), hash);
    else if (metadata !== undefined) hash = (hash ^ (metadata.length + 1)) & 0x3fffffff;

    const bucket = this.#memo.get(hash);
    if (bucket !== undefined) {
      for (const entry of bucket) {
        if (matches(entry, view, metadata)) {
          this.#last = entry;
          return entry.destination;
        }
      }
    }

    const destination = this.#share(buildDestination(view, tagsMetadata));
    if (this.#remembered >= MEMO_SIZE) this.#forget();
    const entry: Remembered = {
      peer: copyBytes(bytes, peerStart, peerEnd),
      extension: hasExtension ? copyBytes(bytes, extensionStart, extensionEnd) : undefined,
      sni: view.has(SNI) ? copyBytes(bytes, view.start(SNI), view.end(SNI)) : undefined,
      metadata,
      destination,
    };
    const current = this.#memo.get(hash);
    if (current === undefined) this.#memo.set(hash, [entry]);
    else {
      if (current.length >= BUCKET_ENTRIES) {
        current.shift();
        this.#remembered--;
      }
      current.push(entry);
    }
    this.#remembered++;
    this.#last = entry;
    return destination;
  }

  #share(destination: Destination | undefined): Destination | undefined {
    if (destination === undefined) return undefined;
    const known = this.#shared.get(destination.key);
    if (known !== undefined) return known;
    this.#shared.set(destination.key, destination);
    return destination;
  }

  #forget(): void {
    this.#last = undefined;
    this.#memo.clear();
    this.#shared.clear();
    this.#remembered = 0;
  }
}
