/**
 * The two caches of the hot path (SPEC §5), both bounded LRUs:
 * - identity: certificate text → Client, so a known peer certificate is never parsed again;
 * - decision: (generation, destination, identity) → Decision. The generation is part of the key
 *   and the cache is cleared when a new generation starts serving, so an older generation's
 *   answers can never be returned — nor keep memory.
 */
import { LRUCache } from 'lru-cache';
import { decide } from './decide.js';
import type { DecisionTable } from './table.js';
import type { Client, Decision, Destination } from './types.js';

export interface CacheObserver {
  lookup(cache: 'decision' | 'identity', hit: boolean): void;
}

const NO_OBSERVER: CacheObserver = { lookup() {} };

/** Certificates longer than this are parsed every time rather than pinned in memory. */
const MAX_CACHED_CERTIFICATE_CHARS = 16 * 1024;

/**
 * The LRU is keyed by the certificate's length and last characters (its signature, unique per
 * issued certificate) rather than the whole text: hashing a 2 KB string on every call costs more
 * than the rest of a cache hit. Each bucket keeps the full texts and compares them exactly, so two
 * certificates that share a tail never share an identity.
 */
const BUCKET_TAIL_CHARS = 64;
const BUCKET_ENTRIES = 4;

interface Remembered {
  readonly text: string;
  readonly client: Client;
}

export function cachedCertificateReader(
  read: (urlEncodedPem: string) => Client,
  max: number,
  observer: CacheObserver = NO_OBSERVER,
): { read: (urlEncodedPem: string) => Client; readonly size: () => number } {
  if (max <= 0) return { read, size: () => 0 };
  const cache = new LRUCache<string, Remembered[]>({ max });
  return {
    read(text) {
      if (text.length > MAX_CACHED_CERTIFICATE_CHARS) {
        observer.lookup('identity', false);
        return read(text);
      }
      const key = `${text.length}:${text.slice(-BUCKET_TAIL_CHARS)}`;
      const bucket = cache.get(key);
      if (bucket !== undefined) {
        for (const entry of bucket) {
          if (entry.text === text) {
            observer.lookup('identity', true);
            return entry.client;
          }
        }
      }
      observer.lookup('identity', false);
      const client = read(text);
      if (bucket === undefined) cache.set(key, [{ text, client }]);
      else {
        if (bucket.length >= BUCKET_ENTRIES) bucket.shift();
        bucket.push({ text, client });
      }
      return client;
    },
    size: () => cache.size,
  };
}

export class DecisionCache {
  readonly #cache: LRUCache<string, Decision> | undefined;
  readonly #observer: CacheObserver;
  #generation = -1;

  constructor(max: number, observer: CacheObserver = NO_OBSERVER) {
    this.#cache = max > 0 ? new LRUCache({ max }) : undefined;
    this.#observer = observer;
  }

  get size(): number {
    return this.#cache?.size ?? 0;
  }

  /** decide(), answered from the cache when this exact question was asked of this generation. */
  decide(table: DecisionTable, destination: Destination | undefined, client: Client, scope = ''): Decision {
    const cache = this.#cache;
    // Only identified clients are worth caching: every other answer is a constant.
    if (cache === undefined || destination === undefined || client.kind !== 'identity') {
      return decide(table, destination, client);
    }
    if (table.generation !== this.#generation) {
      // A new generation serves: every older entry is dead weight.
      if (table.generation > this.#generation) {
        cache.clear();
        this.#generation = table.generation;
      }
    }
    const key = `${table.generation}\u0000${scope}\u0000${destination.key}\u0000${client.identity.key}`;
    const hit = cache.get(key);
    this.#observer.lookup('decision', hit !== undefined);
    if (hit !== undefined) return hit;
    const decision = decide(table, destination, client);
    cache.set(key, decision);
    return decision;
  }
}
