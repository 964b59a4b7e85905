/**
 * Protobuf wire format for the Check and Health calls, written by hand against the field numbers
 * of proto/ (SPEC §3). Decoding walks the bytes once, checks every message on the way to the fields
 * mtp-authz reads and records only where those fields lie; nothing is materialised until it is
 * asked for. Encoding builds answers from small pre-encoded pieces. Malformed input throws
 * MalformedMessageError, nothing else.
 */

import { WIRE_LEN } from './encode.js';
import {
  closeMessage,
  Cursor,
  EMPTY,
  lengthEnd,
  MalformedMessageError,
  nextField,
  skip,
} from './wire-read.js';

export {
  type CheckResponseParts,
  encodeCheckResponse,
  encodeHealthCheckResponse,
  encodeStringStruct,
  HEALTH_SERVING_STATUS,
  type HealthServingStatus,
} from './encode.js';
export { MalformedMessageError } from './wire-read.js';

export const DESTINATION_TAGS_EXTENSION = 'mtp.destination-tags';
const REQUEST_ID_HEADER = 'x-request-id';
const DESTINATION_TAGS_KEY = Buffer.from(DESTINATION_TAGS_EXTENSION);
const REQUEST_ID_KEY = Buffer.from(REQUEST_ID_HEADER);

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
  /** attributes.tls_session.sni */
  tlsSni: 4,
  /** attributes.request.http.id */
  httpId: 5,
  /** attributes.request.http.method */
  httpMethod: 6,
  /** attributes.request.http.host */
  httpHost: 7,
  /** attributes.request.http.path */
  httpPath: 8,
} as const;
export type TextField = (typeof TEXT_FIELD)[keyof typeof TEXT_FIELD];
const TEXT_FIELD_COUNT = 9;
/** The attributes.request.http fields: read lazily, and numbered last so one comparison tells them. */
const HTTP_FIELDS = [
  TEXT_FIELD.httpId,
  TEXT_FIELD.httpMethod,
  TEXT_FIELD.httpHost,
  TEXT_FIELD.httpPath,
] as const;
const FIRST_HTTP_FIELD = TEXT_FIELD.httpId;

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
  /** Whether the fields of #http have been read into #spans since the last decode. */
  #httpRead = false;
  readonly #cursor = new Cursor();

  /**
   * Decodes `bytes` into this view, replacing what it held. Every message on the way to a field
   * the decision reads is checked. attributes.request.http (the request line and dozens of
   * headers, which only decision logs read) is skipped whole, within its checked length, and read
   * when a log first asks for it (see #readHttp). Throws MalformedMessageError on bytes that are
   * not a CheckRequest.
   */
  decode(bytes: Buffer): this {
    this.#bytes = bytes;
    this.#spans.fill(0);
    this.#destinations.clear();
    this.#http.clear();
    this.#httpRead = false;
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
    return this.#span(field, 0) !== 0;
  }

  start(field: TextField): number {
    return this.#span(field, 0);
  }

  end(field: TextField): number {
    return this.#span(field, 1);
  }

  #span(field: TextField, side: 0 | 1): number {
    if (field >= FIRST_HTTP_FIELD && !this.#httpRead) this.#readHttp();
    return this.#spans[2 * field + side] as number;
  }

  /**
   * Reads the request line fields out of the attributes.request.http messages decode() skipped.
   * An HTTP message that does not decode was never part of the decision (the request was answered
   * before anyone looked at it): its fields then read as absent, as broken headers do.
   */
  #readHttp(): void {
    this.#httpRead = true;
    const c = new Cursor().reset(this.#bytes);
    try {
      for (let i = 0; i < this.#http.count; i++) {
        c.pos = this.#http.start(i);
        httpRequest(c, this.#http.end(i), this);
      }
    } catch (error) {
      if (!(error instanceof MalformedMessageError)) throw error;
      for (const field of HTTP_FIELDS) this.setSpan(field, 0, 0);
    }
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
      // http: located now, read only when asked for (CheckRequestView.#readHttp).
      const httpEnd = lengthEnd(c, end);
      view.addHttp(c.pos, httpEnd);
      c.pos = httpEnd;
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
