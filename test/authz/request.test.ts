import { describe, expect, it } from 'vitest';
import { type CheckRequestView, decodeCheckRequest } from '../../src/authz/codec.js';
import { checkInputOf, clientOf, destinationOf, parseDestinationPrincipal } from '../../src/authz/request.js';
import { clientFromUris, invalidClient, NO_CLIENT } from '../../src/decision/identity.js';
import type { Client } from '../../src/decision/types.js';
import { type CheckRequestInit, encodeCheckRequest } from './wire.js';

const view = (init: CheckRequestInit): CheckRequestView => decodeCheckRequest(encodeCheckRequest(init));
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

describe('clientOf', () => {
  const fromCertificate = (pem: string): Client =>
    pem === 'good' ? clientFromUris(['spiffe://default/web']) : invalidClient('bad');

  it('reads the certificate first', () => {
    const client = clientOf(
      view({ source: { certificate: 'good', principal: 'spiffe://default/other' } }),
      fromCertificate,
    );
    expect(client.kind === 'identity' && client.identity.tags.get('kuma.io/service')).toEqual(['web']);
  });

  it('reports a certificate that does not parse as invalid, without falling back to the principal', () => {
    const client = clientOf(
      view({ source: { certificate: 'garbage', principal: 'spiffe://default/web' } }),
      fromCertificate,
    );
    expect(client.kind).toBe('invalid');
  });

  it('falls back to a SPIFFE principal', () => {
    const client = clientOf(view({ source: { principal: 'spiffe://default/web' } }), fromCertificate);
    expect(client.kind === 'identity' && client.identity.mesh).toBe('default');
  });

  it('has no client without certificate or principal, whatever the headers claim', () => {
    const request = view({
      http: {
        headers: {
          'x-forwarded-client-cert': 'By=spiffe://default/backend;URI=spiffe://default/admin',
          'x-envoy-downstream-service-cluster': 'admin',
        },
      },
    });
    expect(clientOf(request, fromCertificate)).toBe(NO_CLIENT);
  });
});

describe('checkInputOf', () => {
  const never = (): Client => {
    throw new Error('no certificate expected');
  };

  it('carries the HTTP attributes, x-request-id first', () => {
    const input = checkInputOf(
      view({
        http: { id: 'envoy', method: 'GET', host: 'h', path: '/p', headers: { 'x-request-id': 'rid' } },
      }),
      undefined,
      never,
    );
    expect(input.http).toEqual({ method: 'GET', host: 'h', path: '/p', requestId: 'rid' });
  });

  it("uses Envoy's request id when x-request-id is absent", () => {
    expect(checkInputOf(view({ http: { id: 'envoy' } }), undefined, never).http?.requestId).toBe('envoy');
  });

  it('has no HTTP attributes for the network filter', () => {
    const input = checkInputOf(view({ destination: { principal } }), undefined, never);
    expect(input).toMatchObject({ http: undefined, client: NO_CLIENT });
    expect(input.destination?.key).toBeDefined();
  });
});
