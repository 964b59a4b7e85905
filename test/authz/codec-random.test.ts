/**
 * The lean CheckRequest decoder against protobufjs reflection over proto/ (an independent
 * decoder), on thousands of random requests written field by field: any field order, unknown
 * fields of every wire type (packed and unpacked repeated scalars among them), repeated map
 * entries and keys, map entries written value-first or with a part missing, singular fields sent
 * twice, and embedded messages split into several occurrences (which protobuf merges).
 */
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { CheckRequestView } from '../../src/authz/codec.js';
import { type PlainView, plain } from './view.js';
import { root } from './wire.js';

const CheckRequest = root.lookupType('envoy.service.auth.v3.CheckRequest');

// ---------------------------------------------------------------------------------------------
// A random wire writer: a message is a list of fields, serialized in list order.

type Field =
  | { readonly n: number; readonly kind: 'bytes'; readonly value: Buffer }
  | { readonly n: number; readonly kind: 'message'; readonly fields: Field[] }
  | { readonly n: number; readonly kind: 'varint'; readonly value: number }
  | { readonly n: number; readonly kind: 'fixed32' | 'fixed64' };

let seed = 1;
const random = (n: number): number => {
  // xorshift32: deterministic, so a failure reproduces.
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) % n;
};
const chance = (p: number): boolean => random(1000) < p * 1000;
const pick = <T>(items: readonly T[]): T => items[random(items.length)] as T;

const WORDS = [
  'a',
  'b',
  'web',
  'x-request-id',
  'mtp.destination-tags',
  'kuma.io/service',
  'é',
  '字',
  '🙂',
  '',
];
const text = (): string =>
  Array.from({ length: random(4) }, () => pick(WORDS)).join(pick(['', '-', '=', ',']));

/** A base-128 varint (up to 2^53), written by protobufjs. */
const varint = (value: number): Buffer => Buffer.from(protobuf.Writer.create().uint64(value).finish());

function serialize(fields: readonly Field[]): Buffer {
  const parts: Buffer[] = [];
  for (const field of fields) {
    switch (field.kind) {
      case 'bytes':
        parts.push(varint(field.n * 8 + 2), varint(field.value.length), field.value);
        break;
      case 'message': {
        const body = serialize(field.fields);
        parts.push(varint(field.n * 8 + 2), varint(body.length), body);
        break;
      }
      case 'varint':
        parts.push(varint(field.n * 8), varint(field.value));
        break;
      case 'fixed32':
        parts.push(varint(field.n * 8 + 5), Buffer.alloc(4, 0xab));
        break;
      case 'fixed64':
        parts.push(varint(field.n * 8 + 1), Buffer.alloc(8, 0xcd));
        break;
    }
  }
  return Buffer.concat(parts);
}

const str = (n: number, value = text()): Field => ({ n, kind: 'bytes', value: Buffer.from(value, 'utf8') });

/** Unknown fields, numbered where the message declares nothing. */
function unknowns(taken: readonly number[]): Field[] {
  const out: Field[] = [];
  for (let i = random(3); i > 0; i--) {
    let n = 1 + random(40);
    while (taken.includes(n)) n++;
    switch (random(5)) {
      case 0:
        out.push({ n, kind: 'varint', value: random(2 ** 31) * (chance(0.5) ? 2 ** 20 : 1) });
        break;
      case 1:
        out.push({ n, kind: 'fixed32' }, { n, kind: 'fixed64' });
        break;
      case 2: // packed repeated varints
        out.push({ n, kind: 'bytes', value: Buffer.concat([varint(1), varint(300), varint(2 ** 40)]) });
        break;
      case 3: // the same values unpacked
        for (const value of [1, 300, 2 ** 40]) out.push({ n, kind: 'varint', value });
        break;
      default: // an unknown nested message
        out.push({ n, kind: 'message', fields: [str(1), { n: 2, kind: 'varint', value: 7 }] });
    }
  }
  return out;
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random(i + 1);
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

/** A map<string,string> entry: usually key then value; sometimes reversed, partial or padded. */
function mapEntry(n: number, keys: readonly string[]): Field {
  const key = str(1, pick(keys));
  const value = str(2);
  let fields: Field[] = [key, value];
  const shape = random(10);
  if (shape === 0) fields = [value, key];
  else if (shape === 1) fields = [key];
  else if (shape === 2) fields = [value];
  else if (shape === 3) fields = [key, value, ...unknowns([1, 2])];
  return { n, kind: 'message', fields };
}

const repeat = (count: number, make: () => Field): Field[] => Array.from({ length: count }, make);

function peer(isSource: boolean): Field[] {
  const fields: Field[] = [
    ...repeat(random(3), () => str(4, pick(['spiffe://default/web', 'spiffe://m/a', text()]))),
    ...repeat(random(2), () => str(2)),
    ...repeat(random(2), () => str(1)),
    ...repeat(random(4), () => mapEntry(3, ['env', 'kuma.io/service', 'a', ''])),
    ...unknowns([1, 2, 3, 4, 5]),
  ];
  if (isSource) fields.push(...repeat(random(2), () => str(5, `-----BEGIN%20CERTIFICATE-----%0A${text()}`)));
  return shuffle(fields);
}

function httpRequest(): Field[] {
  return shuffle([
    ...repeat(random(2), () => str(1)),
    ...repeat(random(2), () => str(2, pick(['GET', 'POST', text()]))),
    ...repeat(random(2), () => str(4, `/${text()}`)),
    ...repeat(random(2), () => str(5)),
    ...repeat(random(2), () => str(6)),
    ...repeat(random(2), () => str(10)),
    ...repeat(random(6), () => mapEntry(3, ['x-request-id', 'accept', ':path', 'X-Request-Id'])),
    ...unknowns([1, 2, 3, 4, 5, 6, 10]),
  ]);
}

function tlsSession(): Field[] {
  return shuffle([...repeat(random(3), () => str(1, pick(['backend.mesh', '', text()]))), ...unknowns([1])]);
}

function attributes(): Field[] {
  const fields: Field[] = [...unknowns([1, 2, 4, 10, 11, 12])];
  if (chance(0.8)) fields.push({ n: 1, kind: 'message', fields: peer(true) });
  if (chance(0.8)) fields.push({ n: 2, kind: 'message', fields: peer(false) });
  if (chance(0.7)) {
    const request: Field[] = [...unknowns([2])];
    if (chance(0.9)) request.push({ n: 2, kind: 'message', fields: httpRequest() });
    fields.push({ n: 4, kind: 'message', fields: shuffle(request) });
  }
  fields.push(...repeat(random(4), () => mapEntry(10, ['mtp.destination-tags', 'route', ''])));
  if (chance(0.3)) fields.push(str(11));
  if (chance(0.4)) fields.push({ n: 12, kind: 'message', fields: tlsSession() });
  return shuffle(fields);
}

/**
 * The same message with some embedded messages split into two occurrences (their fields keep
 * their order): a protobuf decoder merges them back. protobufjs replaces instead of merging, so
 * it reads the unsplit form and the lean decoder must agree on both.
 */
function split(fields: readonly Field[]): Field[] {
  const out: Field[] = [];
  for (const field of fields) {
    if (field.kind !== 'message' || field.fields.length < 2 || !chance(0.3)) {
      out.push(field.kind === 'message' ? { ...field, fields: split(field.fields) } : field);
      continue;
    }
    // Map entries are not merged but replaced; only split the singular messages.
    if ([3, 10].includes(field.n) && field.fields.some((f) => f.n === 1 || f.n === 2)) {
      out.push(field);
      continue;
    }
    const at = 1 + random(field.fields.length - 1);
    out.push(
      { ...field, fields: split(field.fields.slice(0, at)) },
      { ...field, fields: split(field.fields.slice(at)) },
    );
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// What the lean decoder should see, computed from protobufjs's reading.

interface Decoded {
  attributes?: {
    source?: { principal: string; certificate: string };
    destination?: { principal: string; labels: Record<string, string> };
    request?: {
      http?: { id: string; method: string; host: string; path: string; headers: Record<string, string> };
    };
    contextExtensions: Record<string, string>;
    tlsSession?: { sni?: string };
  };
}

function expected(bytes: Buffer): Omit<PlainView, 'destinationLabels'> & { labels?: object } {
  const m = CheckRequest.decode(bytes) as unknown as Decoded;
  const a = m.attributes;
  const labels = a?.destination?.labels ?? {};
  const http = a?.request?.http;
  const extensions = a?.contextExtensions ?? {};
  return {
    sourcePrincipal: a?.source?.principal ?? '',
    // The lean decoder reads the certificate as latin1: each byte one character (PEM is ASCII).
    sourceCertificate: Buffer.from(a?.source?.certificate ?? '', 'utf8').toString('latin1'),
    destinationPrincipal: a?.destination?.principal ?? '',
    sni: a?.tlsSession != null && Object.hasOwn(a.tlsSession, 'sni') ? a.tlsSession.sni : undefined,
    ...(Object.keys(labels).length > 0 ? { labels: { ...labels } } : {}),
    destinationTagsExtension: Object.hasOwn(extensions, 'mtp.destination-tags')
      ? extensions['mtp.destination-tags']
      : undefined,
    http:
      http === undefined || http === null
        ? undefined
        : {
            id: http.id,
            method: http.method,
            host: http.host,
            path: http.path,
            requestId: http.headers['x-request-id'] ?? '',
          },
  };
}

/** One view decoded into again and again, as the Check handler does: nothing may leak between requests. */
const reused = new CheckRequestView();

function lean(bytes: Buffer): ReturnType<typeof expected> {
  const { destinationLabels, ...rest } = plain(reused.decode(bytes));
  return {
    ...rest,
    ...(destinationLabels === undefined ? {} : { labels: Object.fromEntries(destinationLabels) }),
  };
}

describe('decodeCheckRequest agrees with protobufjs', () => {
  it('on 3000 random requests in any field order, with unknown fields and repeated entries', () => {
    seed = 0x5eed;
    const seen = { labels: 0, requestId: 0, tags: 0, certificate: 0, http: 0, sni: 0 };
    for (let i = 0; i < 3000; i++) {
      const message: Field[] = shuffle([{ n: 1, kind: 'message', fields: attributes() }, ...unknowns([1])]);
      const bytes = serialize(message);
      const want = expected(bytes);
      if (want.labels !== undefined) seen.labels++;
      if (want.http !== undefined) seen.http++;
      if (want.http?.requestId) seen.requestId++;
      if (want.destinationTagsExtension !== undefined) seen.tags++;
      if (want.sourceCertificate !== '') seen.certificate++;
      if (want.sni !== undefined) seen.sni++;
      expect(lean(bytes), `request ${i}: ${bytes.toString('hex')}`).toEqual(want);
      const merged = serialize(split(message));
      expect(lean(merged), `request ${i} split: ${merged.toString('hex')}`).toEqual(want);
    }
    // The generator reaches every field the decoder reads, often.
    for (const count of Object.values(seen)) expect(count).toBeGreaterThan(300);
  });

  it('on the requests protobufjs itself writes (canonical order)', () => {
    seed = 0xc0ffee;
    for (let i = 0; i < 500; i++) {
      const canonical = Buffer.from(
        CheckRequest.encode(
          CheckRequest.decode(serialize([{ n: 1, kind: 'message', fields: attributes() }])),
        ).finish(),
      );
      expect(lean(canonical), canonical.toString('hex')).toEqual(expected(canonical));
    }
  });
});
