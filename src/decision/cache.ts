/**
 * The two caches of the hot path (SPEC §5), both bounded LRUs:
 * - identity: certificate → Client, so a peer certificate seen again is not parsed again;
 * - decision: (generation, destination, identity) → Decision. The generation is part of the key
 *   (and of every shortcut in front of it), and the cache is cleared when a new generation starts
 *   serving, so an older generation's answers can never be returned — nor keep memory.
 */
import { LRUCache } from 'lru-cache';
import { copyBytes, hashBytes, hashText, sameBytes } from './byte-keys.js';
import { decide } from './decide.js';
import type { DecisionTable } from './table.js';
import type { Client, ClientIdentity, Decision, Destination } from './types.js';

export interface CacheObserver {
  lookup(cache: 'decision' | 'identity', hit: boolean): void;
}

const NO_OBSERVER: CacheObserver = { lookup() {} };

/** Certificates longer than this are parsed every time rather than pinned in memory. */
const MAX_CACHED_CERTIFICATE_BYTES = 16 * 1024;

/**
 * The LRU is keyed by a hash of the certificate's length and last bytes (its signature, unique per
 * issued certificate), computed where the bytes lie in the request: neither a string nor a hash
 * of the whole certificate is made on a hit. Each bucket keeps copies of the full certificates and
 * compares them exactly, so two certificates that share a tail never share an identity.
 */
const BUCKET_TAIL_BYTES = 64;
const BUCKET_ENTRIES = 4;

/*
 * Admission. Workloads ask the same questions again and again; a flood of one-off certificates (a
 * scan, a misbehaving client) should pass by instead of churning the caches through the heap.
 * - Identity cache: a certificate is cached the second time it is seen. Its entries are the large
 *   ones (a copy of the certificate and the parsed identity), and the cost is one extra parse per
 *   certificate.
 * - Decision cache: every answer goes in while there is room; once full, a new entry (which
 *   evicts another) is made only the second time its question is asked.
 */

/**
 * Whether a key (by its hash) was offered recently, recording it. A fixed table of recent hashes:
 * an overwritten slot only makes a key wait one more offer, and a false "yes" only admits early.
 */
class SeenBefore {
  readonly #slots: Uint32Array;

  constructor(slots = 16_384) {
    this.#slots = new Uint32Array(slots);
  }

  offer(hash: number): boolean {
    const slot = hash % this.#slots.length;
    if (this.#slots[slot] === hash + 1) return true;
    this.#slots[slot] = hash + 1;
    return false;
  }
}

interface Remembered {
  readonly certificate: Buffer;
  readonly client: Client;
}

/** Client identity of the URL-encoded PEM certificate at bytes[start, end). */
export type CertificateReader = (bytes: Buffer, start: number, end: number) => Client;

export interface CertificateIdentities {
  readonly read: CertificateReader;
  readonly size: () => number;
}

/** An identity cache (SPEC §5) in front of `parse`, admitting certificates seen before. */
export function cachedCertificateReader(
  parse: (urlEncodedPem: string) => Client,
  max: number,
  observer: CacheObserver = NO_OBSERVER,
): CertificateIdentities {
  const parseBytes: CertificateReader = (bytes, start, end) => parse(bytes.toString('latin1', start, end));
  if (max <= 0) return { read: parseBytes, size: () => 0 };
  const cache = new LRUCache<number, Remembered[]>({ max });
  const seen = new SeenBefore();
  // The entry found or made last: a caller calling again, the common case, costs one byte
  // comparison (no hash, no LRU lookup). Every LRU touch also makes its entry the last one, so
  // the LRU order is the one it would be without this; and an identity depends on its
  // certificate bytes alone, so the entry's answer is right for as long as it is kept.
  let last: Remembered | undefined;
  return {
    read(bytes, start, end) {
      const length = end - start;
      if (length > MAX_CACHED_CERTIFICATE_BYTES) {
        observer.lookup('identity', false);
        return parseBytes(bytes, start, end);
      }
      if (last !== undefined && sameBytes(last.certificate, bytes, start, end)) {
        observer.lookup('identity', true);
        return last.client;
      }
      const key = hashBytes(bytes, Math.max(start, end - BUCKET_TAIL_BYTES), end, length);
      const bucket = cache.get(key);
      if (bucket !== undefined) {
        for (const entry of bucket) {
          if (sameBytes(entry.certificate, bytes, start, end)) {
            observer.lookup('identity', true);
            last = entry;
            return entry.client;
          }
        }
      }
      observer.lookup('identity', false);
      const client = parseBytes(bytes, start, end);
      if (!seen.offer(key)) return client;
      const remembered = { certificate: copyBytes(bytes, start, end), client };
      if (bucket === undefined) cache.set(key, [remembered]);
      else {
        if (bucket.length >= BUCKET_ENTRIES) bucket.shift();
        bucket.push(remembered);
      }
      last = remembered;
      return client;
    },
    size: () => cache.size,
  };
}

/** The last answer one identity got in one scope; mutated in place when it changes. */
interface Recent {
  generation: number;
  destination: Destination;
  decision: Decision;
}

/** What the cache keeps per scope (enforced, shadow): its number in keys and the recent answers. */
interface Scope {
  readonly index: number;
  readonly recent: WeakMap<ClientIdentity, Recent>;
}

/**
 * Canonical key texts → small numbers, so that a cache key is a few characters instead of two
 * long texts. A number is never given to a second text (the counter only grows), so keys made of
 * numbers are as exact as keys made of the texts; the table starts over when it is full, and a
 * text seen again then gets a new number (its older entries are simply never asked for again).
 */
class Interner {
  readonly #ids = new Map<string, number>();
  #next = 0;

  constructor(readonly max: number) {}

  id(text: string): number {
    let id = this.#ids.get(text);
    if (id === undefined) {
      if (this.#ids.size >= this.max) this.#ids.clear();
      id = this.#next++;
      this.#ids.set(text, id);
    }
    return id;
  }
}

const UNIT = 0x10000;

/**
 * (generation, scope, destination, identity) as a short flat string: the numbers in 16-bit units
 * (generation: 32 bits, ids: 48 bits). Cheaper to build, hash and keep than the canonical texts.
 */
function decisionKey(generation: number, scope: number, destination: number, identity: number): string {
  return String.fromCharCode(
    scope,
    generation % UNIT,
    Math.floor(generation / UNIT) % UNIT,
    destination % UNIT,
    Math.floor(destination / UNIT) % UNIT,
    Math.floor(destination / UNIT / UNIT) % UNIT,
    identity % UNIT,
    Math.floor(identity / UNIT) % UNIT,
    Math.floor(identity / UNIT / UNIT) % UNIT,
  );
}

/** Interned texts kept at most; identities are re-interned (and re-decided) after this many. */
const MAX_INTERNED = 16_384;

export class DecisionCache {
  readonly #cache: LRUCache<string, Decision> | undefined;
  readonly #observer: CacheObserver;
  readonly #scopes = new Map<string, Scope>();
  readonly #identities = new Interner(MAX_INTERNED);
  readonly #destinations = new Interner(MAX_INTERNED);
  readonly #asked = new SeenBefore();
  #generation = -1;

  constructor(max: number, observer: CacheObserver = NO_OBSERVER) {
    this.#cache = max > 0 ? new LRUCache({ max }) : undefined;
    this.#observer = observer;
  }

  get size(): number {
    return this.#cache?.size ?? 0;
  }

  /** decide(), answered from the cache when this exact question was asked of this generation. */
  decide(
    table: DecisionTable,
    destination: Destination | undefined,
    client: Client,
    scopeName = '',
  ): Decision {
    const cache = this.#cache;
    // Only identified clients are worth caching: every other answer is a constant.
    if (cache === undefined || destination === undefined || client.kind !== 'identity') {
      return decide(table, destination, client);
    }
    const { generation } = table;
    if (generation > this.#generation) {
      // A new generation serves: every older entry is dead weight.
      cache.clear();
      this.#generation = generation;
    }
    const { identity } = client;
    const scope = this.#scope(scopeName);
    // In front of the LRU: the last destination this identity object (one per cached certificate)
    // called in this scope, and the answer. A caller repeating its last call, the common case,
    // is answered without making a key. Weakly held: it lives as long as the identity.
    const recent = scope.recent.get(identity);
    if (recent !== undefined && recent.generation === generation && recent.destination === destination) {
      this.#observer.lookup('decision', true);
      return recent.decision;
    }

    const key = decisionKey(
      generation,
      scope.index,
      this.#destinations.id(destination.key),
      this.#identities.id(identity.key),
    );
    let decision = cache.get(key);
    this.#observer.lookup('decision', decision !== undefined);
    if (decision === undefined) {
      decision = decide(table, destination, client);
      // Once full, a new entry evicts another: only for a question asked before.
      if (cache.size >= cache.max && !this.#asked.offer(hashText(key))) return decision;
      cache.set(key, decision);
    }
    if (recent === undefined) scope.recent.set(identity, { generation, destination, decision });
    else {
      recent.generation = generation;
      recent.destination = destination;
      recent.decision = decision;
    }
    return decision;
  }

  #scope(name: string): Scope {
    let scope = this.#scopes.get(name);
    if (scope === undefined) {
      scope = { index: this.#scopes.size, recent: new WeakMap() };
      this.#scopes.set(name, scope);
    }
    return scope;
  }
}
