import { describe, expect, it } from 'vitest';
import { type CheckRequestView, decodeCheckRequest } from '../../src/authz/codec.js';
import { DestinationResolver, parseDestinationPrincipal } from '../../src/authz/destination.js';
import { type CheckRequestInit, encodeCheckRequest } from './wire.js';

const view = (init: CheckRequestInit): CheckRequestView => decodeCheckRequest(encodeCheckRequest(init));
const resolver = new DestinationResolver();
const destinationOf = (request: CheckRequestView, metadata: string | undefined) =>
  resolver.resolve(request, metadata);
const tagsOf = (init: CheckRequestInit, metadata?: string) => {
  const destination = destinationOf(view(init), metadata);
  return destination === undefined ? undefined : Object.fromEntries(destination.tags);
};
const principal = 'spiffe://default/backend';

describe('parseDestinationPrincipal', () => {
  it.each([
    ['spiffe://default/backend', ['default', 'backend']],
    ['spiffe://mesh-1/backend_kuma-demo_svc_3001', ['mesh-1', 'backend_kuma-demo_svc_3001']],
    ['spiffe://default', undefined],
    ['spiffe://default/', undefined],
    ['spiffe:///backend', undefined],
    ['kuma://default/backend', undefined],
    ['', undefined],
  ])('%s → %j', (text, expected) => {
    expect(parseDestinationPrincipal(text)).toEqual(expected);
  });
});

describe('destinationOf', () => {
  it('takes mesh and service from the destination principal', () => {
    const destination = destinationOf(view({ destination: { principal } }), undefined);
    expect(destination?.mesh).toBe('default');
    expect(Object.fromEntries(destination?.tags ?? [])).toEqual({ 'kuma.io/service': 'backend' });
  });

  it('answers repeated requests with the same destination, and never mixes up crafted ones', () => {
    const first = destinationOf(view({ destination: { principal } }), 'version=v1');
    expect(destinationOf(view({ destination: { principal } }), 'version=v1')).toBe(first);
    // Same concatenated text, split differently between principal and tags: different destinations.
    const a = destinationOf(view({ destination: { principal: 'spiffe://default/a1' } }), 'x=y');
    const b = destinationOf(view({ destination: { principal: 'spiffe://default/a' } }), '1x=y');
    expect(Object.fromEntries(a?.tags ?? [])).toEqual({ 'kuma.io/service': 'a1', x: 'y' });
    expect(Object.fromEntries(b?.tags ?? [])).toEqual({ 'kuma.io/service': 'a', '1x': 'y' });
    const labelled = (labels: Record<string, string>) =>
      Object.fromEntries(destinationOf(view({ destination: { principal, labels } }), undefined)?.tags ?? []);
    expect(labelled({ ab: 'c' })).toEqual({ ab: 'c', 'kuma.io/service': 'backend' });
    expect(labelled({ a: 'bc' })).toEqual({ a: 'bc', 'kuma.io/service': 'backend' });
  });

  it('has no destination without a principal, whatever the tags say', () => {
    expect(tagsOf({ destination: { labels: { 'kuma.io/service': 'backend' } } })).toBeUndefined();
  });

  it('prefers the context extension over metadata and labels', () => {
    const init = {
      destination: { principal, labels: { version: 'label' } },
      contextExtensions: { 'mtp.destination-tags': 'version=extension' },
    };
    expect(tagsOf(init, 'version=metadata')).toEqual({ version: 'extension', 'kuma.io/service': 'backend' });
  });

  it('prefers metadata over labels', () => {
    const init = { destination: { principal, labels: { version: 'label' } } };
    expect(tagsOf(init, 'version=metadata,zone=east')).toEqual({
      version: 'metadata',
      zone: 'east',
      'kuma.io/service': 'backend',
    });
  });

  it('falls back to the labels', () => {
    expect(tagsOf({ destination: { principal, labels: { version: 'label' } } })).toEqual({
      version: 'label',
      'kuma.io/service': 'backend',
    });
  });

  it('does not merge sources: an empty extension hides the labels', () => {
    const init = {
      destination: { principal, labels: { version: 'label' } },
      contextExtensions: { 'mtp.destination-tags': '' },
    };
    expect(tagsOf(init)).toEqual({ 'kuma.io/service': 'backend' });
  });

  it('lets the principal decide kuma.io/service over any tag text', () => {
    const init = {
      destination: { principal },
      contextExtensions: { 'mtp.destination-tags': 'kuma.io/service=admin' },
    };
    expect(tagsOf(init)).toEqual({ 'kuma.io/service': 'backend' });
  });

  it.each(['version', 'version=', '=v1', 'a=1,,b=2', 'a=1,a=2', 'a=1 ,b=2'.replace(' ', ',')])(
    'makes malformed tag text "%s" an unusable destination',
    (text) => {
      expect(
        tagsOf({ destination: { principal }, contextExtensions: { 'mtp.destination-tags': text } }),
      ).toBeUndefined();
      expect(tagsOf({ destination: { principal } }, text)).toBeUndefined();
    },
  );
});

describe('DestinationResolver memo', () => {
  it('answers a repeated destination with the same object, also when it alternates with others', () => {
    const memo = new DestinationResolver();
    const a = view({ destination: { principal, labels: { version: 'v1' } } });
    const b = view({ destination: { principal: 'spiffe://default/web', labels: { version: 'v1' } } });
    const first = memo.resolve(a, undefined);
    const other = memo.resolve(b, undefined);
    expect(memo.resolve(a, undefined)).toBe(first);
    expect(memo.resolve(b, undefined)).toBe(other);
    expect(other).not.toBe(first);
  });

  it('shares one object between equal destinations sent as different bytes', () => {
    const memo = new DestinationResolver();
    const one = memo.resolve(view({ destination: { principal, labels: { a: '1', b: '2' } } }), undefined);
    const two = memo.resolve(view({ destination: { principal, labels: { b: '2', a: '1' } } }), undefined);
    expect(two).toBe(one);
  });

  it('keys on the tag source: the same destination bytes with other metadata or extension differ', () => {
    const memo = new DestinationResolver();
    const bytes = { destination: { principal, labels: { version: 'label' } } };
    const tags = (init: CheckRequestInit, metadata?: string) =>
      Object.fromEntries(memo.resolve(view(init), metadata)?.tags ?? []);
    expect(tags(bytes)).toEqual({ version: 'label', 'kuma.io/service': 'backend' });
    expect(tags(bytes, 'version=v1')).toEqual({ version: 'v1', 'kuma.io/service': 'backend' });
    expect(tags(bytes, 'version=v2')).toEqual({ version: 'v2', 'kuma.io/service': 'backend' });
    const extension = (text: string) => ({ ...bytes, contextExtensions: { 'mtp.destination-tags': text } });
    expect(tags(extension('version=e1'), 'version=v1')).toEqual({
      version: 'e1',
      'kuma.io/service': 'backend',
    });
    expect(tags(extension('version=e2'), 'version=v1')).toEqual({
      version: 'e2',
      'kuma.io/service': 'backend',
    });
    expect(tags(extension(''), 'version=v1')).toEqual({ 'kuma.io/service': 'backend' });
    // And back to the first: nothing above replaced it.
    expect(tags(bytes)).toEqual({ version: 'label', 'kuma.io/service': 'backend' });
  });

  it('stays right past its bound (it starts over rather than growing)', () => {
    const memo = new DestinationResolver();
    for (let i = 0; i < 10_000; i++) {
      const destination = memo.resolve(
        view({ destination: { principal: `spiffe://default/svc-${i}` } }),
        undefined,
      );
      expect(destination?.tags.get('kuma.io/service')).toBe(`svc-${i}`);
    }
    expect(memo.size).toBeLessThanOrEqual(4096);
    expect(memo.resolve(view({ destination: { principal } }), undefined)?.tags.get('kuma.io/service')).toBe(
      'backend',
    );
  });

  it('merges several destination messages as protobuf does (not memoised)', () => {
    const memo = new DestinationResolver();
    const first = encodeCheckRequest({ destination: { principal, labels: { a: '1' } } });
    const second = encodeCheckRequest({ destination: { labels: { b: '2' } } });
    const destination = memo.resolve(decodeCheckRequest(Buffer.concat([first, second])), undefined);
    expect(Object.fromEntries(destination?.tags ?? [])).toEqual({
      a: '1',
      b: '2',
      'kuma.io/service': 'backend',
    });
  });

  it('carries the TLS server name, and tells destinations apart by it', () => {
    const withSni = destinationOf(view({ destination: { principal }, sni: 'backend.mesh' }), undefined);
    const otherSni = destinationOf(view({ destination: { principal }, sni: 'other.mesh' }), undefined);
    const noSni = destinationOf(view({ destination: { principal } }), undefined);
    expect([withSni?.sni, otherSni?.sni, noSni?.sni]).toEqual(['backend.mesh', 'other.mesh', undefined]);
    expect(destinationOf(view({ destination: { principal }, sni: 'backend.mesh' }), undefined)).toBe(withSni);
    expect(new Set([withSni?.key, otherSni?.key, noSni?.key]).size).toBe(3);
  });
});
