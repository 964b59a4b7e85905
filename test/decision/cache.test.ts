/**
 * The hot-path caches (SPEC §5): a new generation is never answered from an older one, keys of
 * different questions never collide (whatever characters tags hold), both caches stay bounded, and
 * every lookup is reported as a hit or a miss.
 */
import { describe, expect, it } from 'vitest';
import {
  type CacheObserver,
  type CertificateIdentities,
  cachedCertificateReader,
  DecisionCache,
} from '../../src/decision/cache.js';
import { decide } from '../../src/decision/decide.js';
import { invalidClient, makeDestination, makeIdentity } from '../../src/decision/identity.js';
import type { Client } from '../../src/decision/types.js';
import { compilePolicySet } from '../../src/policy/compile.js';
import { client, dest, mesh, mtp, policySet, service, subset } from '../support/policies.js';

function counting(): CacheObserver & { counts: Record<string, number> } {
  const counts: Record<string, number> = {};
  return {
    counts,
    lookup(cache, hit) {
      const key = `${cache}:${hit ? 'hit' : 'miss'}`;
      counts[key] = (counts[key] ?? 0) + 1;
    },
  };
}

/** Reads `text` as the certificate bytes sit in a request: a range inside a larger buffer. */
const readText = (identities: CertificateIdentities, text: string): Client => {
  const bytes = Buffer.from(`##${text}##`, 'latin1');
  return identities.read(bytes, 2, bytes.length - 2);
};

const allowWeb = (generation: number) =>
  compilePolicySet(policySet([mtp('p', service('backend'), [[service('web'), 'Allow']])]), { generation });
const denyWeb = (generation: number) =>
  compilePolicySet(policySet([mtp('p', service('backend'), [[service('web'), 'Deny']])]), { generation });

describe('DecisionCache', () => {
  it('never answers a new generation from an older one', () => {
    const observer = counting();
    const cache = new DecisionCache(1000, observer);
    const backend = dest('backend');
    const web = client('web');
    const first = allowWeb(1);
    expect(cache.decide(first, backend, web).action).toBe('Allow');
    expect(cache.decide(first, backend, web).action).toBe('Allow');
    expect(observer.counts).toEqual({ 'decision:miss': 1, 'decision:hit': 1 });

    // The same question, asked of the next generation whose policies say the opposite.
    const second = denyWeb(2);
    expect(cache.decide(second, backend, web).action).toBe('Deny');
    expect(observer.counts['decision:miss']).toBe(2);
    // A call still running on the old snapshot gets the old generation's answer, never the reverse.
    expect(cache.decide(first, backend, web).action).toBe('Allow');
    expect(cache.decide(second, backend, web).action).toBe('Deny');
    expect(cache.decide(allowWeb(3), backend, web).action).toBe('Allow');
  });

  it('answers a caller repeating itself from its last answer, never across generations, scopes or destinations', () => {
    // The same identity and destination objects throughout, as the identity cache and the
    // destination memo hand them out: the shortcut in front of the LRU is in play.
    const observer = counting();
    const cache = new DecisionCache(1000, observer);
    const web = client('web');
    const backend = dest('backend');
    const other = dest('other');
    const table = compilePolicySet(
      policySet([
        mtp('b', service('backend'), [[service('web'), 'Allow']]),
        mtp('o', service('other'), [[service('web'), 'Deny']]),
      ]),
      { generation: 1 },
    );
    const shadow = denyWeb(1);
    for (let round = 0; round < 3; round++) {
      expect(cache.decide(table, backend, web).action).toBe('Allow');
      expect(cache.decide(table, backend, web).action).toBe('Allow');
      expect(cache.decide(table, other, web).action).toBe('Deny');
      expect(cache.decide(shadow, backend, web, 'shadow').action).toBe('Deny');
    }
    expect(observer.counts).toEqual({ 'decision:miss': 3, 'decision:hit': 9 });
    expect(cache.decide(denyWeb(2), backend, web).action).toBe('Deny');
    expect(cache.decide(allowWeb(3), backend, web).action).toBe('Allow');
  });

  it('stays exact for identities seen again after far more new ones than it keeps numbers for', () => {
    // Cache keys carry numbers standing for the identity and destination texts; the numbering
    // starts over when full. Whatever the churn, an identity's answer is its own.
    const table = compilePolicySet(
      policySet([
        mtp('p', service('backend'), [
          [subset({ group: 'a' }), 'Allow'],
          [subset({ group: 'b' }), 'Deny'],
        ]),
      ]),
      { generation: 1 },
    );
    const cache = new DecisionCache(100_000);
    const backend = dest('backend');
    // Every third identity is allowed: no numbering period lines the answers up by chance.
    const who = (i: number) => client(`svc-${i}`, { group: i % 3 === 0 ? 'a' : 'b' });
    const expected = (i: number) => (i % 3 === 0 ? 'Allow' : 'Deny');
    for (let i = 0; i < 40_000; i++) expect(cache.decide(table, backend, who(i)).action).toBe(expected(i));
    for (let i = 0; i < 40_000; i += 97)
      expect(cache.decide(table, backend, who(i)).action).toBe(expected(i));
    for (let i = 0; i < 200; i++)
      expect(cache.decide(table, dest('backend'), who(i)).action).toBe(expected(i));
  });

  it('drops older generations once a new one serves', () => {
    const cache = new DecisionCache(1000);
    const table = allowWeb(1);
    for (let round = 0; round < 2; round++)
      for (let i = 0; i < 50; i++) cache.decide(table, dest('backend'), client(`svc-${i}`));
    expect(cache.size).toBe(50);
    const next = denyWeb(2);
    for (let round = 0; round < 2; round++) cache.decide(next, dest('backend'), client('web'));
    expect(cache.size).toBe(1);
  });

  it('keeps the enforced and shadow scopes of one generation apart', () => {
    const cache = new DecisionCache(1000);
    const enforced = allowWeb(7);
    const shadow = denyWeb(7);
    for (let i = 0; i < 3; i++) {
      expect(cache.decide(enforced, dest('backend'), client('web')).action).toBe('Allow');
      expect(cache.decide(shadow, dest('backend'), client('web'), 'shadow').action).toBe('Deny');
    }
  });

  it('stays bounded at its maximum while every request is a new identity', () => {
    const observer = counting();
    const cache = new DecisionCache(100, observer);
    const table = allowWeb(1);
    for (let i = 0; i < 10_000; i++) {
      for (let ask = 0; ask < 2; ask++) cache.decide(table, dest('backend'), client(`svc-${i}`));
    }
    expect(cache.size).toBe(100);
    // Asked twice each: the first hundred went in on their first ask (room), the rest on their
    // second (admission when full), evicting the least recently used.
    expect(observer.counts).toEqual({ 'decision:miss': 100 + 2 * 9_900, 'decision:hit': 100 });
    cache.decide(table, dest('backend'), client('svc-9999'));
    expect(observer.counts['decision:hit']).toBe(101);
  });

  it('once full, lets a flood of one-off questions pass by without evicting what it holds', () => {
    const observer = counting();
    const cache = new DecisionCache(100, observer);
    const table = allowWeb(1);
    for (let i = 0; i < 100; i++) cache.decide(table, dest('backend'), client(`kept-${i}`));
    for (let i = 0; i < 1000; i++) {
      expect(cache.decide(table, dest('backend'), client(`svc-${i}`)).action).toBe('Deny');
    }
    expect(cache.size).toBe(100);
    for (let i = 0; i < 100; i++) cache.decide(table, dest('backend'), client(`kept-${i}`));
    expect(observer.counts).toEqual({ 'decision:miss': 1100, 'decision:hit': 100 });
    // A new question asked again is admitted (evicting one), and answered from the cache after that.
    for (let ask = 0; ask < 3; ask++) cache.decide(table, dest('backend'), client('new'));
    expect(observer.counts).toEqual({ 'decision:miss': 1102, 'decision:hit': 101 });
  });

  it('does not cache (or count) clients without an identity, nor a missing destination', () => {
    const observer = counting();
    const cache = new DecisionCache(100, observer);
    const table = allowWeb(1);
    const none: Client = { kind: 'none' };
    expect(cache.decide(table, dest('backend'), none).via).toBe('no-identity');
    expect(cache.decide(table, dest('backend'), invalidClient('bad')).via).toBe('invalid-identity');
    expect(cache.decide(table, undefined, client('web')).via).toBe('no-destination');
    expect(cache.size).toBe(0);
    expect(observer.counts).toEqual({});
  });

  it('answers exactly as decide() for identities and destinations built to collide', () => {
    // Characters that a naive key (joined by separators) would confuse: NUL, quotes, commas,
    // brackets, '=', '/' and ':'.
    const alphabet = ['a', 'b', '\u0000', '"', ',', '[', ']', '=', '/', ':', '\\'];
    let seed = 42;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const text = (): string =>
      Array.from({ length: 1 + random(3) }, () => alphabet[random(alphabet.length)]).join('');
    const tags = ['a', 'b', 'a\u0000b', 'a"b'];
    const table = compilePolicySet(
      policySet([
        mtp('p', mesh(), [
          [subset({ a: 'a' }), 'Allow'],
          [subset({ b: 'a' }), 'Deny'],
          [subset({ 'a\u0000b': 'a' }), 'AllowWithShadowDeny'],
          [subset({ a: 'b', b: 'b' }), 'Deny'],
        ]),
      ]),
      { generation: 1 },
    );
    const cache = new DecisionCache(100_000);
    for (let i = 0; i < 5000; i++) {
      const clientTags = new Map<string, string[]>();
      for (let t = random(4); t > 0; t--) clientTags.set(tags[random(tags.length)] as string, [text()]);
      clientTags.set('kuma.io/service', [text()]);
      const who: Client = { kind: 'identity', identity: makeIdentity('default', clientTags) };
      const where = makeDestination(
        'default',
        new Map([
          ['kuma.io/service', text()],
          [text(), text()],
        ]),
      );
      expect(cache.decide(table, where, who)).toEqual(decide(table, where, who));
    }
  });
});

describe('cachedCertificateReader', () => {
  /** A reader over `parse` that counts how often it really parses. */
  function countingReader(
    parse: (text: string) => ReturnType<typeof client>,
    size: number,
    observer?: ReturnType<typeof counting>,
  ) {
    const counter = { parsed: 0 };
    const read = (text: string) => {
      counter.parsed++;
      return parse(text);
    };
    return { counter, reader: cachedCertificateReader(read, size, observer) };
  }

  it('caches a certificate the second time it is seen, then answers without parsing', () => {
    const observer = counting();
    const { counter, reader } = countingReader((text) => client(text), 10, observer);
    for (let i = 0; i < 5; i++) expect(readText(reader, 'web')).toEqual(client('web'));
    expect(counter.parsed).toBe(2);
    expect(reader.size()).toBe(1);
    expect(observer.counts).toEqual({ 'identity:miss': 2, 'identity:hit': 3 });
  });

  it('lets a flood of one-off certificates pass without filling the cache', () => {
    const reader = cachedCertificateReader((text) => client(text), 10);
    readText(reader, 'web');
    readText(reader, 'web');
    for (let i = 0; i < 1000; i++) expect(readText(reader, `svc-${i}`)).toEqual(client(`svc-${i}`));
    expect(reader.size()).toBe(1);
  });

  it('stays bounded at its maximum', () => {
    const reader = cachedCertificateReader((text) => client(text), 10);
    for (let round = 0; round < 2; round++) for (let i = 0; i < 1000; i++) readText(reader, `svc-${i}`);
    expect(reader.size()).toBe(10);
  });

  it('caches invalid certificates too, so a bad peer is not parsed on every request', () => {
    const { counter, reader } = countingReader((_text) => invalidClient('certificate does not parse'), 10);
    for (let i = 0; i < 5; i++) expect(readText(reader, 'garbage').kind).toBe('invalid');
    expect(counter.parsed).toBe(2);
  });

  it('parses oversized certificate text every time rather than pinning it', () => {
    const observer = counting();
    const { counter, reader } = countingReader((_text) => client('web'), 10, observer);
    const huge = 'x'.repeat(17 * 1024);
    readText(reader, huge);
    readText(reader, huge);
    expect(counter.parsed).toBe(2);
    expect(reader.size()).toBe(0);
    expect(observer.counts).toEqual({ 'identity:miss': 2 });
  });

  it('never confuses two certificates that share their length and tail', () => {
    const { counter, reader } = countingReader((text) => client(text.slice(0, 3)), 10);
    const tail = 'T'.repeat(100);
    for (let round = 0; round < 3; round++) {
      expect(readText(reader, `web${tail}`)).toEqual(client('web'));
      expect(readText(reader, `ops${tail}`)).toEqual(client('ops'));
    }
    // web, ops (admitted at once: same hash, so the same admission slot), web again; then hits.
    expect(counter.parsed).toBe(3);
    // A bucket holds a few texts; past that the oldest is parsed again, never answered wrongly.
    for (const s of ['aaa', 'bbb', 'ccc', 'ddd', 'eee']) readText(reader, `${s}${tail}`);
    expect(readText(reader, `web${tail}`)).toEqual(client('web'));
    expect(reader.size()).toBe(1);
  });

  it('is a pass-through when disabled (size 0)', () => {
    const { counter, reader } = countingReader((_text) => client('web'), 0);
    readText(reader, 'a');
    readText(reader, 'a');
    expect(counter.parsed).toBe(2);
    expect(reader.size()).toBe(0);
  });
});
