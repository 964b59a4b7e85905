import { describe, expect, it } from 'vitest';
import { clientFromPrincipal, clientFromUris, NO_SPIFFE_ID } from '../../src/decision/identity.js';
import { looksLikeUri, parseSan } from '../../src/decision/san.js';
import type { Client } from '../../src/decision/types.js';
import { seededRandom } from '../support/random.js';

const WEB = 'spiffe://default/web';

/** The tags (other than the service) that a SAN adds beside a valid SPIFFE ID; null when ignored. */
function tagsAdded(san: string): Record<string, readonly string[]> | null {
  const client = clientFromUris([WEB, san]);
  if (client.kind !== 'identity') throw new Error(`no identity: ${JSON.stringify(client)}`);
  const tags = Object.fromEntries(client.identity.tags);
  delete tags['kuma.io/service'];
  if (client.ignoredSans === 1) {
    expect(tags).toEqual({});
    return null;
  }
  expect(client.ignoredSans).toBeUndefined();
  return tags;
}

describe('kuma:// SANs: exactly kuma://<key>/<value>, key and value in the tag charsets', () => {
  it.each<[string, string, Record<string, string[]> | null]>([
    ['exact', 'kuma://env/prod', { env: ['prod'] }],
    ['key with slashes (last / splits)', 'kuma://kuma.io/zone/us-east-1', { 'kuma.io/zone': ['us-east-1'] }],
    ['every key and value character', 'kuma://a-Z.0_9:x/y/A-z.9_0:v', { 'a-Z.0_9:x/y': ['A-z.9_0:v'] }],
    ['fragment', 'kuma://env/prod#x', null],
    ['empty fragment', 'kuma://env/prod#', null],
    ['query', 'kuma://env/prod?x=1', null],
    ['leading space', ' kuma://env/prod', null],
    ['trailing space', 'kuma://env/prod ', null],
    ['space inside', 'kuma://env/pr od', null],
    ['percent-encoded value', 'kuma://env/pr%6Fd', null],
    ['percent-encoded slash', 'kuma://env%2Fprod', null],
    ['upper-case scheme', 'KUMA://env/prod', null],
    ['mixed-case scheme', 'Kuma://env/prod', null],
    ['userinfo', 'kuma://user@env/prod', null],
    ['empty key', 'kuma:///prod', null],
    ['empty value', 'kuma://env/', null],
    ['no value', 'kuma://env', null],
    ['nothing', 'kuma://', null],
    ['extra / at the end', 'kuma://env/prod/', null],
    // Kuma's principal for tag "env/" is kuma://env//prod: exact, so it is that key, never env.
    ['extra / in the middle', 'kuma://env//prod', { 'env/': ['prod'] }],
    ['extra / at the start', 'kuma:///env/prod', { '/env': ['prod'] }],
    ['a port-like key is only a key', 'kuma://env:80/prod', { 'env:80': ['prod'] }],
    ['the service tag (proven by SPIFFE IDs only)', 'kuma://kuma.io/service/admin', null],
    ['another scheme', 'https://env/prod', null],
    ['a crafted list', 'kuma://env/dev, URI:kuma://env/prod', null],
  ])('%s: %s', (_what, san, expected) => {
    expect(tagsAdded(san)).toEqual(expected);
  });
});

describe('spiffe:// SANs: exactly spiffe://<trust-domain>/<path>', () => {
  /** mesh + service of a client presenting only this SAN; null when it is no valid SPIFFE ID. */
  function spiffe(san: string): { mesh: string; service: readonly string[] | undefined } | null {
    const client = clientFromUris([san]);
    if (client.kind === 'invalid') {
      expect(client).toStrictEqual({ kind: 'invalid', reason: NO_SPIFFE_ID, ignoredSans: 1 });
      return null;
    }
    if (client.kind !== 'identity') throw new Error(`unexpected ${JSON.stringify(client)}`);
    expect(client.ignoredSans).toBeUndefined();
    return { mesh: client.identity.mesh, service: client.identity.tags.get('kuma.io/service') };
  }

  it.each<[string, string, { mesh: string; service: string[] | undefined } | null]>([
    ['exact', 'spiffe://default/web', { mesh: 'default', service: ['web'] }],
    [
      'Kuma service names',
      'spiffe://prod.mesh/backend_kuma-demo_svc_8080',
      { mesh: 'prod.mesh', service: ['backend_kuma-demo_svc_8080'] },
    ],
    [
      'a MeshIdentity path: the mesh, no service',
      'spiffe://default.zone-1.mesh.local/ns/shop/sa/web',
      { mesh: 'default.zone-1.mesh.local', service: undefined },
    ],
    ['fragment', 'spiffe://default/web#x', null],
    ['query', 'spiffe://default/web?x', null],
    ['leading space', ' spiffe://default/web', null],
    ['trailing space', 'spiffe://default/web ', null],
    ['percent-encoding', 'spiffe://default/w%65b', null],
    ['upper-case scheme', 'SPIFFE://default/web', null],
    ['upper-case trust domain', 'spiffe://Default/web', null],
    ['userinfo', 'spiffe://user@default/web', null],
    ['port', 'spiffe://default:8443/web', null],
    ['empty trust domain', 'spiffe:///web', null],
    ['empty path', 'spiffe://default/', null],
    ['no path', 'spiffe://default', null],
    ['extra / at the end', 'spiffe://default/web/', null],
    ['extra / in the middle', 'spiffe://default//web', null],
    ['dot segment in a path', 'spiffe://default/ns/../web', null],
    ['a crafted list', 'spiffe://default/web, URI:kuma://env/prod', null],
  ])('%s: %s', (_what, san, expected) => {
    expect(spiffe(san)).toEqual(expected);
  });

  it('keeps every SAN exactly as presented, ignored ones too', () => {
    const sans = [WEB, 'kuma://env/prod#x', 'https://example.com'];
    const client = clientFromUris(sans);
    expect(client.kind === 'identity' && client.identity.sans).toEqual(sans);
    expect(client).toMatchObject({ ignoredSans: 2 });
  });

  it('refuses SPIFFE IDs of two meshes, counting every ignored SAN', () => {
    expect(clientFromUris([WEB, 'SPIFFE://x/y', 'spiffe://other/web', 'kuma://a/b#'])).toStrictEqual({
      kind: 'invalid',
      reason: 'SPIFFE IDs name different meshes ("default" and "other")',
      ignoredSans: 2,
    });
  });
});

describe('source.principal', () => {
  it('is plaintext only when empty; anything but a valid SPIFFE ID is invalid', () => {
    expect(clientFromPrincipal('')).toEqual({ kind: 'none' });
    expect(clientFromPrincipal('spiffe://default/web')).toMatchObject({ kind: 'identity' });
    const invalid = { kind: 'invalid', reason: 'source.principal is not a valid SPIFFE ID' };
    for (const principal of ['web', 'CN=web', 'SPIFFE://default/web', 'spiffe://default/web#x', ' ']) {
      expect(clientFromPrincipal(principal), principal).toStrictEqual(invalid);
    }
  });
});

describe('looksLikeUri', () => {
  it('wants a scheme', () => {
    expect(looksLikeUri('spiffe://default/web')).toBe(true);
    expect(looksLikeUri('urn:uuid:1')).toBe(true);
    expect(looksLikeUri('orders')).toBe(false);
    expect(looksLikeUri(' spiffe://default/web')).toBe(false);
    expect(looksLikeUri('://x')).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// Randomized: mutated SANs never give a tag set that the exact rule would not.

/** The rule, written independently of san.ts: whole-string patterns from SPEC §2.2 and SPIFFE. */
function oracle(san: string): { tag: [string, string] } | { spiffe: [string, string | undefined] } | null {
  const kuma = /^kuma:\/\/([a-zA-Z0-9.\-_:/]+)\/([a-zA-Z0-9.\-_:]+)$/.exec(san);
  if (kuma !== null)
    return kuma[1] === 'kuma.io/service' ? null : { tag: [kuma[1] as string, kuma[2] as string] };
  const service = /^spiffe:\/\/([a-z0-9.\-_]{1,255})\/([a-zA-Z0-9.\-_:]+)$/.exec(san);
  if (service !== null) return { spiffe: [service[1] as string, service[2] as string] };
  const path = /^spiffe:\/\/([a-z0-9.\-_]{1,255})\/((?:[a-zA-Z0-9.\-_]+\/)+[a-zA-Z0-9.\-_]+)$/.exec(san);
  if (path !== null && !(path[2] as string).split('/').some((s) => s === '.' || s === '..')) {
    return { spiffe: [path[1] as string, undefined] };
  }
  return null;
}

// Printable ASCII, weighted towards the characters that matter to the grammar.
const PRINTABLE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(0x20 + i)).join('');
const INTERESTING = '/:#?%@ .-_AZaz09';

function mutate(san: string, next: () => number): string {
  const pick = (text: string): string => text[Math.floor(next() * text.length)] as string;
  let text = san;
  const edits = 1 + Math.floor(next() * 3);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(next() * (text.length + 1));
    const char = next() < 0.5 ? pick(INTERESTING) : pick(PRINTABLE);
    const op = next();
    if (op < 0.4) text = text.slice(0, at) + char + text.slice(at);
    else if (op < 0.7) text = text.slice(0, at) + text.slice(at + 1);
    else text = text.slice(0, at) + char + text.slice(at + 1);
  }
  return text;
}

const SEEDS = [
  'kuma://env/prod',
  'kuma://kuma.io/zone/us-east-1',
  'kuma://version/v1.2',
  'kuma://team:a/b',
  'spiffe://default/web',
  'spiffe://default/backend_kuma-demo_svc_8080',
  'spiffe://default.zone.mesh.local/ns/shop/sa/web',
];

describe('randomized mutations of valid SANs', () => {
  it('never yield a tag, a mesh or a service that the exact rule does not', () => {
    const next = seededRandom(0x5eed);
    let accepted = 0;
    for (let round = 0; round < 20_000; round++) {
      const san = mutate(SEEDS[round % SEEDS.length] as string, next);
      const expected = oracle(san);
      const parsed = parseSan(san);
      if (expected === null) expect(parsed, san).toEqual({ kind: 'ignored' });
      else if ('tag' in expected)
        expect(parsed, san).toEqual({ kind: 'tag', key: expected.tag[0], value: expected.tag[1] });
      else {
        accepted++;
        expect(parsed, san).toEqual({
          kind: 'spiffe',
          trustDomain: expected.spiffe[0],
          service: expected.spiffe[1],
        });
      }
      // And through the identity builder, beside a valid SPIFFE ID: the same tags or nothing.
      const client: Client = clientFromUris([WEB, san]);
      if (expected !== null && 'tag' in expected) {
        expect(client.kind === 'identity' && client.identity.tags.get(expected.tag[0]), san).toEqual([
          expected.tag[1],
        ]);
      } else if (client.kind === 'identity') {
        expect([...client.identity.tags.keys()], san).toEqual(['kuma.io/service']);
      }
    }
    // The mutations do reach both sides of the rule.
    expect(accepted).toBeGreaterThan(100);
  });
});
