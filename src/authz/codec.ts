/**
 * Protobuf wire format for the Check and Health calls, written by hand against the field numbers
 * of proto/ (SPEC §3). Decoding walks the bytes once and keeps only the fields the decision needs;
 * every other field, known or not, is skipped without being materialised. Encoding builds answers
 * from small pre-encoded pieces. Malformed input throws MalformedMessageError, nothing else.
 */

export class MalformedMessageError extends Error {
  override readonly name = 'MalformedMessageError';
}

/** The fields of an envoy.service.auth.v3.CheckRequest that mtp-authz reads. */
export interface CheckRequestView {
  /** attributes.source.principal ('' when absent). */
  sourcePrincipal: string;
  /** attributes.source.certificate: the URL-encoded PEM ('' when absent). */
  sourceCertificate: string;
  /** attributes.destination.principal ('' when absent). */
  destinationPrincipal: string;
  /** attributes.destination.labels; undefined when the map has no entry. */
  destinationLabels: Map<string, string> | undefined;
  /** attributes.context_extensions["mtp.destination-tags"]; undefined when that key is absent. */
  destinationTagsExtension: string | undefined;
  /** attributes.request.http; present for the HTTP filter only. */
  http: HttpRequestView | undefined;
}

export interface HttpRequestView {
  id: string;
  method: string;
  host: string;
  path: string;
  /** The `x-request-id` header ('' when absent). */
  requestId: string;
}

export const DESTINATION_TAGS_EXTENSION = 'mtp.destination-tags';
const REQUEST_ID_HEADER = 'x-request-id';

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

// ---------------------------------------------------------------------------------------------
// Reading

class Cursor {
  pos = 0;
  constructor(readonly buf: Buffer) {}
}

function fail(what: string): never {
  throw new MalformedMessageError(what);
}

/** Reads a varint as a JS number (exact up to 2^53; larger values only ever fail a bound check). */
function varint(c: Cursor, limit: number): number {
  let result = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (c.pos >= limit) fail('truncated varint');
    const b = c.buf[c.pos++] as number;
    result += (b & 0x7f) * scale;
    if (b < 0x80) return result;
    scale *= 128;
  }
  return fail('varint longer than 10 bytes');
}

/** Reads a length prefix and returns the end offset of the field it announces. */
function lengthEnd(c: Cursor, limit: number): number {
  const len = varint(c, limit);
  const end = c.pos + len;
  if (end > limit) fail('length exceeds the enclosing message');
  return end;
}

function skip(c: Cursor, wireType: number, limit: number): void {
  switch (wireType) {
    case WIRE_VARINT:
      varint(c, limit);
      return;
    case WIRE_FIXED64:
      c.pos += 8;
      break;
    case WIRE_LEN:
      c.pos = lengthEnd(c, limit);
      return;
    case WIRE_FIXED32:
      c.pos += 4;
      break;
    default:
      // Groups (3, 4) do not exist in proto3; 6 and 7 are not wire types.
      fail(`unsupported wire type ${wireType}`);
  }
  if (c.pos > limit) fail('truncated fixed-width field');
}

function string(c: Cursor, limit: number, encoding: 'utf8' | 'latin1' = 'utf8'): string {
  const end = lengthEnd(c, limit);
  const s = c.buf.toString(encoding, c.pos, end);
  c.pos = end;
  return s;
}

/**
 * Walks the fields of one message ending at `end`. `onField` consumes a length-delimited field it
 * wants and returns true; everything else is skipped.
 */
function fields(c: Cursor, end: number, onField: (field: number, end: number) => boolean): void {
  while (c.pos < end) {
    const tag = varint(c, end);
    const field = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (field === 0) fail('field number 0');
    if (wireType === WIRE_LEN && onField(field, end)) continue;
    skip(c, wireType, end);
  }
  if (c.pos !== end) fail('field overruns its message');
}

/**
 * One `map<string, string>` entry. With `only`, an entry whose key bytes differ is skipped without
 * decoding anything (a request carries dozens of headers and the decision needs one).
 */
function mapEntry(c: Cursor, limit: number, only?: Buffer): [string, string] | undefined {
  const end = lengthEnd(c, limit);
  let keyStart = 0;
  let keyEnd = 0;
  let valueStart = -1;
  let valueEnd = -1;
  // The walk of fields(), without a callback: this runs once per header of every request.
  while (c.pos < end) {
    const tag = varint(c, end);
    const field = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (field === 0) fail('field number 0');
    if (wireType === WIRE_LEN && (field === 1 || field === 2)) {
      const fieldEnd = lengthEnd(c, end);
      if (field === 1) {
        keyStart = c.pos;
        keyEnd = fieldEnd;
      } else {
        valueStart = c.pos;
        valueEnd = fieldEnd;
      }
      c.pos = fieldEnd;
      continue;
    }
    skip(c, wireType, end);
  }
  if (c.pos !== end) fail('field overruns its message');
  if (
    only !== undefined &&
    (keyEnd - keyStart !== only.length || only.compare(c.buf, keyStart, keyEnd) !== 0)
  ) {
    return undefined;
  }
  const key = c.buf.toString('utf8', keyStart, keyEnd);
  return [key, valueStart < 0 ? '' : c.buf.toString('utf8', valueStart, valueEnd)];
}

const DESTINATION_TAGS_KEY = Buffer.from(DESTINATION_TAGS_EXTENSION);
const REQUEST_ID_KEY = Buffer.from(REQUEST_ID_HEADER);

function emptyView(): CheckRequestView {
  return {
    sourcePrincipal: '',
    sourceCertificate: '',
    destinationPrincipal: '',
    destinationLabels: undefined,
    destinationTagsExtension: undefined,
    http: undefined,
  };
}

/** Decodes the bytes of a CheckRequest. Throws MalformedMessageError on bytes that are not one. */
export function decodeCheckRequest(bytes: Buffer): CheckRequestView {
  const c = new Cursor(bytes);
  const view = emptyView();
  // CheckRequest: attributes = 1. A repeated message field merges, as protobuf decoders do.
  fields(c, bytes.length, (field, end) => {
    if (field !== 1) return false;
    attributeContext(c, lengthEnd(c, end), view);
    return true;
  });
  return view;
}

function attributeContext(c: Cursor, end: number, view: CheckRequestView): void {
  fields(c, end, (field, e) => {
    switch (field) {
      case 1: // source
        peer(c, lengthEnd(c, e), view, true);
        return true;
      case 2: // destination
        peer(c, lengthEnd(c, e), view, false);
        return true;
      case 4: // request
        request(c, lengthEnd(c, e), view);
        return true;
      case 10: {
        const entry = mapEntry(c, e, DESTINATION_TAGS_KEY);
        if (entry !== undefined) view.destinationTagsExtension = entry[1];
        return true;
      }
      default:
        return false;
    }
  });
}

function peer(c: Cursor, end: number, view: CheckRequestView, isSource: boolean): void {
  fields(c, end, (field, e) => {
    if (field === 4) {
      if (isSource) view.sourcePrincipal = string(c, e);
      else view.destinationPrincipal = string(c, e);
      return true;
    }
    if (field === 5 && isSource) {
      // URL-encoded PEM is ASCII; latin1 maps every byte to one character (cheaper than UTF-8
      // decoding, and distinct bytes stay distinct keys for the identity cache).
      view.sourceCertificate = string(c, e, 'latin1');
      return true;
    }
    if (field === 3 && !isSource) {
      const entry = mapEntry(c, e);
      if (entry !== undefined) {
        view.destinationLabels ??= new Map();
        view.destinationLabels.set(entry[0], entry[1]);
      }
      return true;
    }
    return false;
  });
}

function request(c: Cursor, end: number, view: CheckRequestView): void {
  fields(c, end, (field, e) => {
    if (field !== 2) return false;
    view.http ??= { id: '', method: '', host: '', path: '', requestId: '' };
    httpRequest(c, lengthEnd(c, e), view.http);
    return true;
  });
}

function httpRequest(c: Cursor, end: number, http: HttpRequestView): void {
  fields(c, end, (field, e) => {
    switch (field) {
      case 1:
        http.id = string(c, e);
        return true;
      case 2:
        http.method = string(c, e);
        return true;
      case 3: {
        const entry = mapEntry(c, e, REQUEST_ID_KEY);
        if (entry !== undefined) http.requestId = entry[1];
        return true;
      }
      case 4:
        http.path = string(c, e);
        return true;
      case 5:
        http.host = string(c, e);
        return true;
      default:
        return false;
    }
  });
}

/** grpc.health.v1.HealthCheckRequest: the service name ('' when absent). */
export function decodeHealthCheckRequest(bytes: Buffer): string {
  const c = new Cursor(bytes);
  let service = '';
  fields(c, bytes.length, (field, end) => {
    if (field !== 1) return false;
    service = string(c, end);
    return true;
  });
  return service;
}

// ---------------------------------------------------------------------------------------------
// Writing

function varintBytes(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

function tag(field: number, wireType: number): number[] {
  return varintBytes(field * 8 + wireType);
}

/** A length-delimited field holding `payload`. */
function lenField(field: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([...tag(field, WIRE_LEN), ...varintBytes(payload.length)]), payload]);
}

function stringField(field: number, value: string): Buffer {
  return lenField(field, Buffer.from(value, 'utf8'));
}

function varintField(field: number, value: number): Buffer {
  return Buffer.from([...tag(field, WIRE_VARINT), ...varintBytes(value)]);
}

/** google.protobuf.Struct with string values only, in the given order. */
export function encodeStringStruct(entries: readonly (readonly [string, string])[]): Buffer {
  return Buffer.concat(
    entries.map(([key, value]) =>
      // Struct.fields = 1 (map entry: key = 1, value = 2 → Value.string_value = 3)
      lenField(1, Buffer.concat([stringField(1, key), lenField(2, stringField(3, value))])),
    ),
  );
}

export interface CheckResponseParts {
  /** google.rpc.Status.code: 0 OK, 7 PERMISSION_DENIED. */
  readonly code: number;
  /** DeniedHttpResponse (field 2): HTTP status and body. */
  readonly denied?: { readonly httpStatus: number; readonly body: string };
  /** An empty OkHttpResponse (field 3). */
  readonly ok?: boolean;
  /** dynamic_metadata (field 4), string values. */
  readonly metadata: readonly (readonly [string, string])[];
}

/** Encodes an envoy.service.auth.v3.CheckResponse. */
export function encodeCheckResponse(parts: CheckResponseParts): Buffer {
  const pieces: Buffer[] = [];
  // status is always present (an empty Status for code 0), as Envoy's own servers send it.
  pieces.push(lenField(1, parts.code === 0 ? Buffer.alloc(0) : varintField(1, parts.code)));
  if (parts.denied !== undefined) {
    const status = lenField(1, varintField(1, parts.denied.httpStatus));
    pieces.push(lenField(2, Buffer.concat([status, stringField(3, parts.denied.body)])));
  } else if (parts.ok === true) {
    pieces.push(lenField(3, Buffer.alloc(0)));
  }
  if (parts.metadata.length > 0) pieces.push(lenField(4, encodeStringStruct(parts.metadata)));
  return Buffer.concat(pieces);
}

export const HEALTH_SERVING_STATUS = {
  UNKNOWN: 0,
  SERVING: 1,
  NOT_SERVING: 2,
  SERVICE_UNKNOWN: 3,
} as const;
export type HealthServingStatus = (typeof HEALTH_SERVING_STATUS)[keyof typeof HEALTH_SERVING_STATUS];

const HEALTH_RESPONSES: readonly Buffer[] = [0, 1, 2, 3].map((s) =>
  s === 0 ? Buffer.alloc(0) : varintField(1, s),
);

/** grpc.health.v1.HealthCheckResponse (pre-encoded, shared: never mutate the result). */
export function encodeHealthCheckResponse(status: HealthServingStatus): Buffer {
  return HEALTH_RESPONSES[status] as Buffer;
}
