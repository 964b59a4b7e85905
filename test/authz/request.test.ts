import { describe, expect, it } from 'vitest';
import { type CheckRequestView, decodeCheckRequest } from '../../src/authz/codec.js';
import { clientOf, httpAttributesOf } from '../../src/authz/request.js';
import { clientFromUris, invalidClient, NO_CLIENT } from '../../src/decision/identity.js';
import type { Client } from '../../src/decision/types.js';
import { type CheckRequestInit, encodeCheckRequest } from './wire.js';

const view = (init: CheckRequestInit): CheckRequestView => decodeCheckRequest(encodeCheckRequest(init));

describe('clientOf', () => {
  const fromCertificate = (bytes: Buffer, start: number, end: number): Client =>
    bytes.toString('latin1', start, end) === 'good'
      ? clientFromUris(['spiffe://default/web'])
      : invalidClient('bad');

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

describe('httpAttributesOf', () => {
  it('carries the HTTP attributes, x-request-id first', () => {
    const request = view({
      http: { id: 'envoy', method: 'GET', host: 'h', path: '/p', headers: { 'x-request-id': 'rid' } },
    });
    expect(httpAttributesOf(request)).toEqual({ method: 'GET', host: 'h', path: '/p', requestId: 'rid' });
  });

  it("uses Envoy's request id when x-request-id is absent", () => {
    expect(httpAttributesOf(view({ http: { id: 'envoy' } }))?.requestId).toBe('envoy');
  });

  it('has no HTTP attributes for the network filter', () => {
    expect(
      httpAttributesOf(view({ destination: { principal: 'spiffe://default/backend' } })),
    ).toBeUndefined();
  });
});
