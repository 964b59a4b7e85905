/**
 * Protobuf wire format for the Check and Health calls, written by hand against the field numbers
 * of proto/ (SPEC §3). Decoding walks the bytes once, checks every message on the way to the fields
 * mtp-authz reads and records only where those fields lie; nothing is materialised until it is
 * asked for. Encoding builds answers from small pre-encoded pieces. Malformed input throws
 * MalformedMessageError, nothing else.
 */

export class MalformedMessageError extends Error {
  override readonly name = 'MalformedMessageError';
}

export const DESTINATION_TAGS_EXTENSION = 'mtp.destination-tags';
const REQUEST_ID_HEADER = 'x-request-id';
const DESTINATION_TAGS_KEY = Buffer.from(DESTINATION_TAGS_EXTENSION);
const REQUEST_ID_KEY = Buffer.from(REQUEST_ID_HEADER);

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

// ---------------------------------------------------------------------------------------------
// Reading

/**
 * The single-valued string fields a CheckRequest view locates. Protobuf's rule applies: when a
 * field occurs more than once (also through repeated enclosing messages, which merge), the last
 * occurrence wins.
 */
export const TEXT_FIELD = {
  /** attributes.source.principal */
  sourcePrincipal: 0,
  /** attributes.source.certificate: the URL-encoded PEM. */
  sourceCertificate: 1,
  /** attributes.destination.principal */
  destinationPrincipal: 2,
  /** attributes.context_extensions["mtp.destination-tags"] */
  destinationTagsExtension: 3,
  /** attributes.request.http.id */
  httpId: 4,
  /** attributes.request.http.method */
  httpMethod: 5,
  /** attributes.request.http.host */
  httpHost: 6,
  /** attributes.request.http.path */
  httpPath: 7,
  /** attributes.tls_session.sni */
  tlsSni: 8,
} as const;
export type TextField = (typeof TEXT_FIELD)[keyof typeof TEXT_FIELD];
const TEXT_FIELD_COUNT = 9;

/**
 * Where the fields mtp-authz reads lie in the bytes of one CheckRequest. Decoding checks the
 * message and records offsets only; strings are made on demand, so a request answered from the
 * caches builds none. A present field never starts at offset 0 (its tag comes first), so a zero
 * start means absent.
 *
 * A view can be decoded into again and again (the Check handler keeps one): the hot path then
 * allocates nothing at all for decoding. Whatever a view returns stays valid; the view itself
 * describes only the last request decoded into it.
 */
export class CheckRequestView {
  #bytes: Buffer = EMPTY;
  /** [start, end) of each TEXT_FIELD, at 2·field and 2·field + 1. */
  readonly #spans: number[] = new Array<number>(2 * TEXT_FIELD_COUNT).fill(0);
  /** [start, end) of each attributes.destination message, in order (protobuf merges them). */
  readonly #destinations = new Spans();
  /** [start, end) of each attributes.request.http message, in order. */
  readonly #http = new Spans();
  readonly #cursor = new Cursor();

  /**
   * Decodes `bytes` into this view, replacing what it held. Every message on the way to a field
   * mtp-authz reads is checked; the HTTP headers (dozens per request, none of which the decision
   * reads) are skipped whole, within their checked length. Throws MalformedMessageError on bytes
   * that are not a CheckRequest.
   */
  decode(bytes: Buffer): this {
    this.#bytes = bytes;
    this.#spans.fill(0);
    this.#destinations.clear();
    this.#http.clear();
    const c = this.#cursor.reset(bytes);
    const end = bytes.length;
    while (c.pos < end) {
      // CheckRequest: attributes = 1.
      if (nextField(c, end) === 1 && c.wireType === WIRE_LEN) attributeContext(c, lengthEnd(c, end), this);
      else skip(c, end);
    }
    return this;
  }

  get bytes(): Buffer {
    return this.#bytes;
  }

  /** True when attributes.request.http is present (Envoy's HTTP filter; the TCP filter sends none). */
  get isHttp(): boolean {
    return this.#http.count > 0;
  }

  has(field: TextField): boolean {
    return this.#spans[2 * field] !== 0;
  }

  start(field: TextField): number {
    return this.#spans[2 * field] as number;
  }

  end(field: TextField): number {
    return this.#spans[2 * field + 1] as number;
  }

  /** The field as text ('' when absent). The certificate is ASCII: latin1 maps each byte to one character. */
  text(field: TextField): string {
    const encoding = field === TEXT_FIELD.sourceCertificate ? 'latin1' : 'utf8';
    return this.has(field) ? this.#bytes.toString(encoding, this.start(field), this.end(field)) : '';
  }

  /** How many destination messages the request holds (Envoy sends one; protobuf merges several). */
  get destinationCount(): number {
    return this.#destinations.count;
  }

  /** Where the first destination message starts. */
  get destinationStart(): number {
    return this.#destinations.start(0);
  }

  /** Where the first destination message ends. */
  get destinationEnd(): number {
    return this.#destinations.end(0);
  }

  /** attributes.destination.labels (later entries win); undefined when the map has no entry. */
  destinationLabels(): Map<string, string> | undefined {
    let labels: Map<string, string> | undefined;
    this.#mapEntries(this.#destinations, 3, (c) => {
      labels ??= new Map();
      labels.set(c.text(c.keyStart, c.keyEnd), c.valueText());
    });
    return labels;
  }

  /**
   * The `x-request-id` header ('' when absent). Headers are only read here, when a log line wants
   * them. Later entries win; headers that do not decode read as absent (the request was answered
   * before anyone looked at them).
   */
  requestId(): string {
    let requestId = '';
    try {
      this.#mapEntries(this.#http, 3, (c) => {
        if (keyIs(c, REQUEST_ID_KEY)) requestId = c.valueText();
      });
    } catch (error) {
      if (error instanceof MalformedMessageError) return '';
      throw error;
    }
    return requestId;
  }

  /** Visits each entry of map field `field` in the messages at `spans` (off the hot path). */
  #mapEntries(spans: Spans, field: number, visit: (c: Cursor) => void): void {
    const c = new Cursor().reset(this.#bytes);
    for (let i = 0; i < spans.count; i++) {
      c.pos = spans.start(i);
      const end = spans.end(i);
      while (c.pos < end) {
        if (nextField(c, end) === field && c.wireType === WIRE_LEN) {
          mapEntry(c, end);
          visit(c);
        } else skip(c, end);
      }
    }
  }

  /** @internal decoder only */
  setSpan(field: TextField, start: number, end: number): void {
    this.#spans[2 * field] = start;
    this.#spans[2 * field + 1] = end;
  }

  /** @internal decoder only */
  addDestination(start: number, end: number): void {
    this.#destinations.add(start, end);
  }

  /** @internal decoder only */
  addHttp(start: number, end: number): void {
    this.#http.add(start, end);
  }
}

/** Decodes a CheckRequest into a new view (see CheckRequestView.decode). */
export function decodeCheckRequest(bytes: Buffer): CheckRequestView {
  return new CheckRequestView().decode(bytes);
}

const EMPTY = Buffer.alloc(0);

/** A list of [start, end) offsets whose storage is kept when it is cleared. */
class Spans {
  readonly #offsets: number[] = [0, 0];
  count = 0;

  clear(): void {
    this.count = 0;
  }

  add(start: number, end: number): void {
    this.#offsets[2 * this.count] = start;
    this.#offsets[2 * this.count + 1] = end;
    this.count++;
  }

  start(i: number): number {
    return this.#offsets[2 * i] as number;
  }

  end(i: number): number {
    return this.#offsets[2 * i + 1] as number;
  }
}

/** A read position plus the parts of the last tag and map entry read (the walk allocates nothing). */
class Cursor {
  buf: Buffer = EMPTY;
  pos = 0;
  wireType = 0;
  keyStart = 0;
  keyEnd = 0;
  /** -1 when the entry had no value field. */
  valueStart = -1;
  valueEnd = -1;

  reset(buf: Buffer): this {
    this.buf = buf;
    this.pos = 0;
    return this;
  }

  text(start: number, end: number): string {
    return this.buf.toString('utf8', start, end);
  }

  /** The value of the map entry just read ('' when it had no value field). */
  valueText(): string {
    return this.valueStart < 0 ? '' : this.text(this.valueStart, this.valueEnd);
  }
}

function fail(what: string): never {
  throw new MalformedMessageError(what);
}

/** Reads a varint as a JS number (exact up to 2^53; larger values only ever fail a bound check). */
function varint(c: Cursor, limit: number): number {
  // Tags and most lengths are one byte.
  const first = c.buf[c.pos] as number;
  if (first < 0x80 && c.pos < limit) {
    c.pos++;
    return first;
  }
  return longVarint(c, limit);
}

function longVarint(c: Cursor, limit: number): number {
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

/** Reads the next tag: returns the field number and leaves the wire type in `c.wireType`. */
function nextField(c: Cursor, limit: number): number {
  const tag = varint(c, limit);
  // Valid tags fit 32 bits: integer arithmetic (a double division and modulo cost more than the walk).
  const field = tag <= 0xffffffff ? tag >>> 3 : Math.floor(tag / 8);
  if (field === 0) fail('field number 0');
  c.wireType = tag <= 0xffffffff ? tag & 7 : tag % 8;
  return field;
}

/** Reads a length prefix and returns the end offset of the field it announces. */
function lengthEnd(c: Cursor, limit: number): number {
  const len = varint(c, limit);
  const end = c.pos + len;
  if (end > limit) fail('length exceeds the enclosing message');
  return end;
}

/** Skips the value of the field whose tag was just read. */
function skip(c: Cursor, limit: number): void {
  switch (c.wireType) {
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
      fail(`unsupported wire type ${c.wireType}`);
  }
  if (c.pos > limit) fail('truncated fixed-width field');
}

/** The end of a message, which must be exactly where its length said. */
function closeMessage(c: Cursor, end: number): void {
  if (c.pos !== end) fail('field overruns its message');
}

/** A string field: records where its bytes lie and moves past them. */
function span(c: Cursor, limit: number, view: CheckRequestView, field: TextField): void {
  const end = lengthEnd(c, limit);
  view.setSpan(field, c.pos, end);
  c.pos = end;
}

/**
 * One `map<string, string>` entry: checks it and leaves where its key and value lie in the cursor.
 * Later key or value fields win, as in any protobuf decoder.
 */
function mapEntry(c: Cursor, limit: number): void {
  const end = lengthEnd(c, limit);
  c.keyStart = c.keyEnd = c.pos;
  c.valueStart = c.valueEnd = -1;
  while (c.pos < end) {
    const field = nextField(c, end);
    if (c.wireType === WIRE_LEN && (field === 1 || field === 2)) {
      const fieldEnd = lengthEnd(c, end);
      if (field === 1) {
        c.keyStart = c.pos;
        c.keyEnd = fieldEnd;
      } else {
        c.valueStart = c.pos;
        c.valueEnd = fieldEnd;
      }
      c.pos = fieldEnd;
    } else skip(c, end);
  }
  closeMessage(c, end);
}

/** True when the key of the entry just read is `key` (compared as bytes: nothing is decoded). */
function keyIs(c: Cursor, key: Uint8Array): boolean {
  if (c.keyEnd - c.keyStart !== key.length) return false;
  for (let i = 0; i < key.length; i++) if (c.buf[c.keyStart + i] !== key[i]) return false;
  return true;
}

/** The value of the entry just read, recorded as `field` ('' when it had no value field). */
function entryValue(c: Cursor, view: CheckRequestView, field: TextField): void {
  if (c.valueStart < 0) view.setSpan(field, c.keyEnd, c.keyEnd);
  else view.setSpan(field, c.valueStart, c.valueEnd);
}

function attributeContext(c: Cursor, end: number, view: CheckRequestView): void {
  while (c.pos < end) {
    const field = nextField(c, end);
    if (c.wireType !== WIRE_LEN) {
      skip(c, end);
      continue;
    }
    switch (field) {
      case 1: // source
        source(c, lengthEnd(c, end), view);
        break;
      case 2: {
        // destination: checked now, its labels read only if a destination must be built
        const destinationEnd = lengthEnd(c, end);
        view.addDestination(c.pos, destinationEnd);
        destination(c, destinationEnd, view);
        break;
      }
      case 4: // request
        request(c, lengthEnd(c, end), view);
        break;
      case 10: // context_extensions
        mapEntry(c, end);
        if (keyIs(c, DESTINATION_TAGS_KEY)) entryValue(c, view, TEXT_FIELD.destinationTagsExtension);
        break;
      case 12: // tls_session
        tlsSession(c, lengthEnd(c, end), view);
        break;
      default:
        skip(c, end);
    }
  }
  closeMessage(c, end);
}

function tlsSession(c: Cursor, end: number, view: CheckRequestView): void {
  while (c.pos < end) {
    if (nextField(c, end) === 1 && c.wireType === WIRE_LEN) span(c, end, view, TEXT_FIELD.tlsSni);
    else skip(c, end);
  }
  closeMessage(c, end);
}

function source(c: Cursor, end: number, view: CheckRequestView): void {
  while (c.pos < end) {
    const field = nextField(c, end);
    if (c.wireType === WIRE_LEN && field === 4) span(c, end, view, TEXT_FIELD.sourcePrincipal);
    else if (c.wireType === WIRE_LEN && field === 5) span(c, end, view, TEXT_FIELD.sourceCertificate);
    else skip(c, end);
  }
  closeMessage(c, end);
}

function destination(c: Cursor, end: number, view: CheckRequestView): void {
  while (c.pos < end) {
    const field = nextField(c, end);
    if (c.wireType === WIRE_LEN && field === 4) span(c, end, view, TEXT_FIELD.destinationPrincipal);
    else if (c.wireType === WIRE_LEN && field === 3) mapEntry(c, end);
    else skip(c, end);
  }
  closeMessage(c, end);
}

function request(c: Cursor, end: number, view: CheckRequestView): void {
  while (c.pos < end) {
    if (nextField(c, end) === 2 && c.wireType === WIRE_LEN) {
      const httpEnd = lengthEnd(c, end);
      view.addHttp(c.pos, httpEnd);
      httpRequest(c, httpEnd, view);
    } else skip(c, end);
  }
  closeMessage(c, end);
}

function httpRequest(c: Cursor, end: number, view: CheckRequestView): void {
  while (c.pos < end) {
    const field = nextField(c, end);
    if (c.wireType !== WIRE_LEN) {
      skip(c, end);
      continue;
    }
    switch (field) {
      case 1:
        span(c, end, view, TEXT_FIELD.httpId);
        break;
      case 2:
        span(c, end, view, TEXT_FIELD.httpMethod);
        break;
      case 4:
        span(c, end, view, TEXT_FIELD.httpPath);
        break;
      case 5:
        span(c, end, view, TEXT_FIELD.httpHost);
        break;
      default:
        skip(c, end);
    }
  }
  closeMessage(c, end);
}

/** grpc.health.v1.HealthCheckRequest: the service name ('' when absent). */
export function decodeHealthCheckRequest(bytes: Buffer): string {
  const c = new Cursor().reset(bytes);
  let service = '';
  while (c.pos < bytes.length) {
    if (nextField(c, bytes.length) === 1 && c.wireType === WIRE_LEN) {
      const end = lengthEnd(c, bytes.length);
      service = c.text(c.pos, end);
      c.pos = end;
    } else skip(c, bytes.length);
  }
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
