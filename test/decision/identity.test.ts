import { describe, expect, it } from 'vitest';
import { clientFromUris, DEFAULT_MAX_URI_SANS } from '../../src/decision/identity.js';
import type { ClientIdentity } from '../../src/decision/types.js';

const identityOf = (uris: string[]): ClientIdentity => {
  const client = clientFromUris(uris);
  if (client.kind !== 'identity') throw new Error(`no identity: ${JSON.stringify(client)}`);
  return client.identity;
};

describe('clientFromUris', () => {
  it('reads mesh and service from the SPIFFE ID and tags from kuma:// URIs', () => {
    const identity = identityOf(['spiffe://default/web', 'kuma://env/prod', 'kuma://kuma.io/zone/east']);
    expect(identity.mesh).toBe('default');
    expect(Object.fromEntries(identity.tags)).toEqual({
      'kuma.io/service': ['web'],
      env: ['prod'],
      'kuma.io/zone': ['east'],
    });
    expect(identity.multiValued).toBe(false);
  });

  it('shares repeated tag texts and one-value lists between identities, frozen', () => {
    const a = identityOf(['spiffe://default/web-1', 'kuma://env/prod']);
    const b = identityOf(['spiffe://default/web-2', 'kuma://env/prod']);
    expect(b.tags.get('env')).toBe(a.tags.get('env'));
    expect(Object.isFrozen(a.tags.get('env'))).toBe(true);
    expect(a.tags.get('kuma.io/service')).toEqual(['web-1']);
    expect(b.tags.get('kuma.io/service')).toEqual(['web-2']);
  });

  it('keeps a multi-valued key in a list of its own, deduplicated', () => {
    const identity = identityOf([
      'spiffe://default/web',
      'spiffe://default/api',
      'kuma://version/v1',
      'kuma://version/v2',
      'kuma://version/v1',
    ]);
    expect(identity.tags.get('kuma.io/service')).toEqual(['web', 'api']);
    expect(identity.tags.get('version')).toEqual(['v1', 'v2']);
    expect(identity.multiValued).toBe(true);
    // A later identity with one of those values gets the shared one-value list, not this one.
    expect(identityOf(['spiffe://default/web', 'kuma://version/v1']).tags.get('version')).toEqual(['v1']);
  });

  it('gives equal SAN lists equal keys, and keeps the SANs in certificate order', () => {
    const a = identityOf(['spiffe://default/web', 'kuma://env/prod', 'kuma://team/x']);
    const b = identityOf(['spiffe://default/web', 'kuma://env/prod', 'kuma://team/x']);
    expect(a.key).toBe(b.key);
    expect(a.sans).toEqual(['spiffe://default/web', 'kuma://env/prod', 'kuma://team/x']);
  });

  it('tells apart the same tags in another SAN order: spec.rules match the joined SANs', () => {
    const a = identityOf(['spiffe://default/web', 'kuma://env/prod', 'kuma://team/x']);
    const b = identityOf(['kuma://team/x', 'kuma://env/prod', 'spiffe://default/web']);
    expect(a.tags).toEqual(b.tags);
    expect(a.key).not.toBe(b.key);
  });
});

describe('clientFromUris: --max-certificate-sans', () => {
  const uris = (n: number): string[] => [
    'spiffe://default/web',
    ...Array.from({ length: n - 1 }, (_, i) => `kuma://k${i}/v`),
  ];

  it('refuses more URI SANs than the bound, before reading any', () => {
    expect(clientFromUris(uris(DEFAULT_MAX_URI_SANS)).kind).toBe('identity');
    expect(clientFromUris(uris(DEFAULT_MAX_URI_SANS + 1))).toStrictEqual({
      kind: 'invalid',
      reason: `client has more than ${DEFAULT_MAX_URI_SANS} URI SANs (--max-certificate-sans)`,
      cause: 'too-many-sans',
    });
    expect(clientFromUris(uris(3), { maxUriSans: 2 })).toMatchObject({
      kind: 'invalid',
      cause: 'too-many-sans',
    });
    // Ignored SANs count towards the bound: it is about what a client may present.
    expect(clientFromUris(['spiffe://default/web', 'x:1', 'x:2'], { maxUriSans: 2 })).toMatchObject({
      kind: 'invalid',
      cause: 'too-many-sans',
    });
  });
});
