import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CheckRequestView,
  decodeCheckRequest,
  decodeHealthCheckRequest,
  encodeCheckResponse,
  encodeHealthCheckResponse,
  encodeStringStruct,
  HEALTH_SERVING_STATUS,
  MalformedMessageError,
  TEXT_FIELD,
} from '../../src/authz/codec.js';
import {
  decodeCheckResponse,
  decodeHealthResponse,
  encodeCheckRequest,
  encodeHealthRequest,
  root,
} from './wire.js';
import { plain } from './view.js';

const decoded = (bytes: Buffer) => plain(decodeCheckRequest(bytes));

describe('decodeCheckRequest', () => {
  it('reads every field the decision needs', () => {
    const bytes = encodeCheckRequest({
      source: { principal: 'spiffe://default/web', certificate: 'PEM%0A', labels: { ignored: 'yes' } },
      destination: { principal: 'spiffe://default/backend', labels: { version: 'v1', zone: 'east' } },
      http: {
        id: 'envoy-id',
        method: 'POST',
        host: 'backend:8080',
        path: '/items?x=1',
        headers: { 'x-request-id': 'req-1', 'x-forwarded-client-cert': 'URI=spiffe://default/admin' },
      },
      contextExtensions: { 'mtp.destination-tags': 'version=v2', other: 'ignored' },
    });
    expect(decoded(bytes)).toEqual({
      sourcePrincipal: 'spiffe://default/web',
      sourceCertificate: 'PEM%0A',
      destinationPrincipal: 'spiffe://default/backend',
      destinationLabels: new Map([
        ['version', 'v1'],
        ['zone', 'east'],
      ]),
      destinationTagsExtension: 'version=v2',
      http: { id: 'envoy-id', method: 'POST', host: 'backend:8080', path: '/items?x=1', requestId: 'req-1' },
    });
  });

  it('reads an empty request (the network filter with nothing) as all-absent', () => {
    expect(decoded(Buffer.alloc(0))).toEqual({
      sourcePrincipal: '',
      sourceCertificate: '',
      destinationPrincipal: '',
      destinationLabels: undefined,
      destinationTagsExtension: undefined,
      http: undefined,
    });
  });

  it('tells an HTTP request with empty attributes from a network one', () => {
    const view = decoded(encodeCheckRequest({ http: {} }));
    expect(view.http).toEqual({ id: '', method: '', host: '', path: '', requestId: '' });
  });

  it('keeps an empty tag extension apart from a missing one', () => {
    const view = decoded(encodeCheckRequest({ contextExtensions: { 'mtp.destination-tags': '' } }));
    expect(view.destinationTagsExtension).toBe('');
  });

  it("decodes Envoy's typical HTTP CheckRequest (fixture), skipping fields it does not declare", () => {
    const bytes = readFileSync(join(import.meta.dirname, 'fixtures/loadgen-typical.checkrequest.bin'));
    const view = decoded(bytes);
    expect(view.sourcePrincipal).toBe('spiffe://cluster.local/ns/default/sa/frontend');
    expect(view.destinationPrincipal).toBe('');
    expect(view.destinationTagsExtension).toBeUndefined();
    expect(view.http).toEqual({
      id: '8d4c5b0e-2c1f-4c7e-9a57-6a2f1e0c9b11',
      method: 'GET',
      host: 'api.example.com',
      path: '/api/v1/tenants/acme/items/42?include=owner&fields=id,name',
      requestId: '8d4c5b0e-2c1f-4c7e-9a57-6a2f1e0c9b11',
    });
  });

  it('skips unknown fields of every wire type', () => {
    // field 99 varint, field 98 fixed64, field 97 fixed32, then attributes{source{principal}}
    const principal = Buffer.from('spiffe://m/s');
    const peer = Buffer.concat([Buffer.from([0x22, principal.length]), principal]);
    const attributes = Buffer.concat([Buffer.from([0x0a, peer.length]), peer]);
    const bytes = Buffer.concat([
      Buffer.from([0x98, 0x06, 0x96, 0x01]),
      Buffer.from([0x91, 0x06, 1, 2, 3, 4, 5, 6, 7, 8]),
      Buffer.from([0x8d, 0x06, 1, 2, 3, 4]),
      Buffer.from([0x0a, attributes.length]),
      attributes,
    ]);
    expect(decoded(bytes).sourcePrincipal).toBe('spiffe://m/s');
  });

  it('ignores a known field sent with the wrong wire type', () => {
    // attributes (field 1) as a varint
    expect(decoded(Buffer.from([0x08, 0x05])).http).toBeUndefined();
  });

  it('replaces invalid UTF-8 instead of failing', () => {
    const bad = Buffer.from([0xff, 0xfe, 0x41]);
    const entry = Buffer.concat([
      Buffer.from([0x0a, 12]),
      Buffer.from('x-request-id'),
      Buffer.from([0x12, 3]),
      bad,
    ]);
    const http = Buffer.concat([Buffer.from([0x1a, entry.length]), entry]);
    const request = Buffer.concat([Buffer.from([0x12, http.length]), http]);
    const attributes = Buffer.concat([Buffer.from([0x22, request.length]), request]);
    const bytes = Buffer.concat([Buffer.from([0x0a, attributes.length]), attributes]);
    expect(decoded(bytes).http?.requestId).toBe('\ufffd\ufffdA');
  });

  const malformed: [string, number[]][] = [
    ['a truncated varint tag', [0x80]],
    ['a length past the end', [0x0a, 0x05, 0x01]],
    ['a nested length past its parent', [0x0a, 0x02, 0x0a, 0x05]],
    ['a truncated fixed64', [0x09, 0x01, 0x02]],
    ['a truncated fixed32', [0x0d, 0x01]],
    ['a start-group wire type', [0x0b, 0x0c]],
    ['wire type 7', [0x0f]],
    ['field number 0', [0x02, 0x00]],
    ['an 11-byte varint', [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]],
    ['a huge length', [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]],
  ];
  it.each(malformed)('throws MalformedMessageError on %s', (_name, bytes) => {
    expect(() => decodeCheckRequest(Buffer.from(bytes))).toThrow(MalformedMessageError);
  });

  it('survives random bytes: a view or MalformedMessageError, nothing else', () => {
    let seed = 42;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const good = encodeCheckRequest({
      source: { principal: 'spiffe://default/web' },
      destination: { principal: 'spiffe://default/backend', labels: { a: 'b' } },
      http: { method: 'GET', headers: { 'x-request-id': 'r' } },
      contextExtensions: { 'mtp.destination-tags': 'a=b' },
    });
    for (let i = 0; i < 2000; i++) {
      const bytes = Buffer.from(good);
      const flips = 1 + Math.floor(random() * 4);
      for (let f = 0; f < flips; f++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      const cut = random() < 0.3 ? bytes.subarray(0, Math.floor(random() * bytes.length)) : bytes;
      let view: CheckRequestView;
      try {
        view = decodeCheckRequest(cut);
      } catch (error) {
        expect(error).toBeInstanceOf(MalformedMessageError);
        continue;
      }
      // The destination, checked when first read, refuses the same way, and again when read again.
      let destinationError: unknown;
      try {
        view.destinationLabels();
      } catch (error) {
        destinationError = error;
      }
      if (destinationError !== undefined) {
        expect(destinationError).toBeInstanceOf(MalformedMessageError);
        expect(() => view.text(TEXT_FIELD.destinationPrincipal)).toThrow(MalformedMessageError);
        continue;
      }
      // Otherwise every field of it can be read without an exception.
      expect(() => plain(view)).not.toThrow();
    }
  });

  it('skips the HTTP headers whole: a broken header fails no request, and its request id reads as absent', () => {
    // A header entry whose own length fits in the headers field but whose key overruns the entry.
    const brokenEntry = Buffer.from([0x0a, 0x7f, 0x41]);
    const http = Buffer.concat([
      Buffer.from([0x12, 3]),
      Buffer.from('GET'),
      Buffer.from([0x1a, brokenEntry.length]),
      brokenEntry,
    ]);
    const request = Buffer.concat([Buffer.from([0x12, http.length]), http]);
    const attributes = Buffer.concat([Buffer.from([0x22, request.length]), request]);
    const view = decoded(Buffer.concat([Buffer.from([0x0a, attributes.length]), attributes]));
    expect(view.http).toEqual({ id: '', method: 'GET', host: '', path: '', requestId: '' });
  });

  it('decides on a request whose HTTP message does not decode: only its request line reads as absent', () => {
    // http { method: "GET", path: <length 9, one byte sent> }: the path overruns the http message.
    const http = Buffer.concat([Buffer.from([0x12, 3]), Buffer.from('GET'), Buffer.from([0x22, 9, 0x2f])]);
    const request = Buffer.concat([Buffer.from([0x12, http.length]), http]);
    const source = Buffer.concat([Buffer.from([0x22, 20]), Buffer.from('spiffe://default/web')]);
    const attributes = Buffer.concat([
      Buffer.from([0x0a, source.length]),
      source,
      Buffer.from([0x22, request.length]),
      request,
    ]);
    const view = decoded(Buffer.concat([Buffer.from([0x0a, attributes.length]), attributes]));
    expect(view.sourcePrincipal).toBe('spiffe://default/web');
    expect(view.http).toEqual({ id: '', method: '', host: '', path: '', requestId: '' });
  });

  it('still refuses an HTTP message that overruns the request holding it', () => {
    const request = Buffer.from([0x12, 0x09, 0x12, 0x01]);
    const attributes = Buffer.concat([Buffer.from([0x22, request.length]), request]);
    expect(() =>
      decodeCheckRequest(Buffer.concat([Buffer.from([0x0a, attributes.length]), attributes])),
    ).toThrow(new MalformedMessageError('length exceeds the enclosing message'));
  });

  it('checks the destination when it is first read: a broken label throws then, every time', () => {
    // destination { principal: "spiffe://d/b", labels: { <key of length 9, one byte sent> } }
    const principal = Buffer.concat([Buffer.from([0x22, 12]), Buffer.from('spiffe://d/b')]);
    const brokenLabel = Buffer.from([0x1a, 0x03, 0x0a, 0x09, 0x41]);
    const destination = Buffer.concat([principal, brokenLabel]);
    const attributes = Buffer.concat([Buffer.from([0x12, destination.length]), destination]);
    const view = decodeCheckRequest(Buffer.concat([Buffer.from([0x0a, attributes.length]), attributes]));
    expect(view.destinationCount).toBe(1);
    const broken = new MalformedMessageError('length exceeds the enclosing message');
    expect(() => view.text(TEXT_FIELD.destinationPrincipal)).toThrow(broken);
    expect(() => view.destinationLabels()).toThrow(broken);
    expect(() => view.has(TEXT_FIELD.destinationPrincipal)).toThrow(broken);
  });

  it('still refuses a destination that overruns the attributes holding it when decoding', () => {
    const attributes = Buffer.from([0x12, 0x09, 0x22, 0x01]);
    expect(() =>
      decodeCheckRequest(Buffer.concat([Buffer.from([0x0a, attributes.length]), attributes])),
    ).toThrow(new MalformedMessageError('length exceeds the enclosing message'));
  });

  it('reads the last x-request-id of repeated headers, as protobuf map decoding does', () => {
    const entry = (value: string) => {
      const body = Buffer.concat([
        Buffer.from([0x0a, 12]),
        Buffer.from('x-request-id'),
        Buffer.from([0x12, value.length]),
        Buffer.from(value),
      ]);
      return Buffer.concat([Buffer.from([0x1a, body.length]), body]);
    };
    const http = Buffer.concat([entry('first'), entry('second')]);
    const request = Buffer.concat([Buffer.from([0x12, http.length]), http]);
    const attributes = Buffer.concat([Buffer.from([0x22, request.length]), request]);
    expect(decoded(Buffer.concat([Buffer.from([0x0a, attributes.length]), attributes])).http?.requestId).toBe(
      'second',
    );
  });

  it('forgets the previous request when a view is decoded into again', () => {
    const view = new CheckRequestView();
    view.decode(
      encodeCheckRequest({
        source: { principal: 'spiffe://default/web', certificate: 'PEM' },
        destination: { principal: 'spiffe://default/backend', labels: { version: 'v1' } },
        http: { method: 'GET', headers: { 'x-request-id': 'r' } },
        contextExtensions: { 'mtp.destination-tags': 'a=b' },
      }),
    );
    expect(plain(view.decode(Buffer.alloc(0)))).toEqual(decoded(Buffer.alloc(0)));
    expect(() => view.decode(Buffer.from([0x0a, 0x05]))).toThrow(MalformedMessageError);
    expect(plain(view.decode(encodeCheckRequest({ source: { principal: 'spiffe://default/ops' } })))).toEqual(
      decoded(encodeCheckRequest({ source: { principal: 'spiffe://default/ops' } })),
    );
  });
});

describe('encodeCheckResponse', () => {
  it('encodes a denial that protobufjs reads back field for field', () => {
    const bytes = encodeCheckResponse({
      code: 7,
      denied: { httpStatus: 403, body: 'RBAC: access denied' },
      metadata: [
        ['enforced_engine_result', 'denied'],
        ['enforced_effective_policy_id', 'deny-all'],
      ],
    });
    expect(decodeCheckResponse(bytes)).toEqual({
      code: 7,
      denied: { httpStatus: 403, body: 'RBAC: access denied', headers: [] },
      metadata: { enforced_engine_result: 'denied', enforced_effective_policy_id: 'deny-all' },
      httpResponse: 'deniedResponse',
    });
  });

  it('encodes an HTTP allow with an empty ok_response', () => {
    const bytes = encodeCheckResponse({
      code: 0,
      ok: true,
      metadata: [['enforced_engine_result', 'allowed']],
    });
    expect(decodeCheckResponse(bytes)).toEqual({
      code: 0,
      ok: { headers: [] },
      metadata: { enforced_engine_result: 'allowed' },
      httpResponse: 'okResponse',
    });
  });

  it('always sends status, even for code 0 (0a 00)', () => {
    expect([...encodeCheckResponse({ code: 0, metadata: [] })]).toEqual([0x0a, 0x00]);
  });

  it('encodes Struct values as string_value (field 3), the way protobufjs would', () => {
    const Struct = root.lookupType('google.protobuf.Struct');
    const reference = Struct.encode(
      Struct.fromObject({ fields: { k: { stringValue: 'v' }, é: { stringValue: 'ü' } } }),
    ).finish();
    expect(
      encodeStringStruct([
        ['k', 'v'],
        ['é', 'ü'],
      ]),
    ).toEqual(Buffer.from(reference));
  });

  it('encodes long values with multi-byte lengths', () => {
    const long = 'p'.repeat(300);
    const bytes = encodeCheckResponse({ code: 0, metadata: [['enforced_effective_policy_id', long]] });
    expect(decodeCheckResponse(bytes).metadata.enforced_effective_policy_id).toBe(long);
  });
});

describe('health messages', () => {
  it('reads the service name', () => {
    expect(decodeHealthCheckRequest(encodeHealthRequest('envoy.service.auth.v3.Authorization'))).toBe(
      'envoy.service.auth.v3.Authorization',
    );
    expect(decodeHealthCheckRequest(Buffer.alloc(0))).toBe('');
  });

  it.each(Object.entries(HEALTH_SERVING_STATUS))('encodes %s', (name, value) => {
    expect(decodeHealthResponse(encodeHealthCheckResponse(value))).toBe(name);
  });
});
