/**
 * A CheckRequest as the hot path reads it: where the fields mtp-authz reads lie in the request's
 * bytes (check-request-walk.ts finds them). Strings are made on demand, so a request answered
 * from the caches builds none; a present field never starts at offset 0 (its tag comes first), so
 * a zero start means absent.
 *
 * What the decision reads on every call is checked by decode(). Two parts are read later, when
 * first asked for: the destination message, which the destination resolver reads only for a
 * destination it has not seen (one it has seen arrives as the very bytes that were checked then),
 * and the HTTP request, which only decision logs read.
 */
import {
  type FieldSink,
  FIRST_LAZY_FIELD,
  HTTP_FIELDS,
  keyIs,
  mapEntry,
  TEXT_FIELD,
  TEXT_FIELD_COUNT,
  type TextField,
  walkCheckRequest,
  walkDestination,
  walkHttpRequest,
} from './check-request-walk.js';
import { Cursor, EMPTY, MalformedMessageError, nextLenField, skip } from './wire-read.js';

export { DESTINATION_TAGS_EXTENSION, TEXT_FIELD, type TextField } from './check-request-walk.js';

const REQUEST_ID_KEY = Buffer.from('x-request-id');

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

/**
 * A view can be decoded into again and again (the Check handler keeps one): the hot path then
 * allocates nothing at all for decoding. Whatever a view returns stays valid; the view itself
 * describes only the last request decoded into it.
 */
export class CheckRequestView implements FieldSink {
  #bytes: Buffer = EMPTY;
  /** [start, end) of each TEXT_FIELD, at 2·field and 2·field + 1. */
  readonly #spans: number[] = new Array<number>(2 * TEXT_FIELD_COUNT).fill(0);
  /** [start, end) of each attributes.destination message, in order (protobuf merges them). */
  readonly #destinations = new Spans();
  /** [start, end) of each attributes.request.http message, in order. */
  readonly #http = new Spans();
  /** Whether the destination messages have been checked, and the HTTP ones read, since decode. */
  #destinationRead = false;
  #httpRead = false;
  readonly #cursor = new Cursor();

  /**
   * Decodes `bytes` into this view, replacing what it held. The messages on the way to the
   * source and the context extensions are checked; attributes.destination and
   * attributes.request.http are checked to lie within their parents and skipped whole (see
   * above). Throws MalformedMessageError on bytes that are not a CheckRequest.
   */
  decode(bytes: Buffer): this {
    this.#bytes = bytes;
    this.#spans.fill(0);
    this.#destinations.clear();
    this.#http.clear();
    this.#destinationRead = false;
    this.#httpRead = false;
    walkCheckRequest(this.#cursor.reset(bytes), bytes.length, this);
    return this;
  }

  get bytes(): Buffer {
    return this.#bytes;
  }

  /** True when attributes.request.http is present (Envoy's HTTP filter; the TCP filter sends none). */
  get isHttp(): boolean {
    return this.#http.count > 0;
  }

  /** Throws MalformedMessageError for the destination principal when the destination does not decode. */
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
    if (field >= FIRST_LAZY_FIELD) {
      if (field === TEXT_FIELD.destinationPrincipal) this.#readDestination();
      else if (!this.#httpRead) this.#readHttp();
    }
    return this.#spans[2 * field + side] as number;
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

  /**
   * attributes.destination.labels (later entries win); undefined when the map has no entry.
   * Throws MalformedMessageError when the destination does not decode.
   */
  destinationLabels(): Map<string, string> | undefined {
    this.#readDestination();
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

  /** Checks the destination messages and locates their principal; throws MalformedMessageError. */
  #readDestination(): void {
    if (this.#destinationRead) return;
    const c = this.#cursor.reset(this.#bytes);
    for (let i = 0; i < this.#destinations.count; i++) {
      c.pos = this.#destinations.start(i);
      walkDestination(c, this.#destinations.end(i), this);
    }
    // Only once it decoded: a destination that does not throws again when read again.
    this.#destinationRead = true;
  }

  /**
   * Reads the request line out of the HTTP messages. One that does not decode was never part of
   * the decision (the request was answered before anyone looked at it): its fields then read as
   * absent, as broken headers do.
   */
  #readHttp(): void {
    this.#httpRead = true;
    const c = new Cursor().reset(this.#bytes);
    try {
      for (let i = 0; i < this.#http.count; i++) {
        c.pos = this.#http.start(i);
        walkHttpRequest(c, this.#http.end(i), this);
      }
    } catch (error) {
      if (!(error instanceof MalformedMessageError)) throw error;
      for (const field of HTTP_FIELDS) this.setSpan(field, 0, 0);
    }
  }

  /** Visits each entry of map field `field` in the messages at `spans` (off the hot path). */
  #mapEntries(spans: Spans, field: number, visit: (c: Cursor) => void): void {
    const c = new Cursor().reset(this.#bytes);
    for (let i = 0; i < spans.count; i++) {
      c.pos = spans.start(i);
      const end = spans.end(i);
      for (let next = nextLenField(c, end); next !== 0; next = nextLenField(c, end)) {
        if (next === field) {
          mapEntry(c, end);
          visit(c);
        } else skip(c, end);
      }
    }
  }

  /** @internal the walk only */
  setSpan(field: TextField, start: number, end: number): void {
    this.#spans[2 * field] = start;
    this.#spans[2 * field + 1] = end;
  }

  /** @internal the walk only */
  addDestination(start: number, end: number): void {
    this.#destinations.add(start, end);
  }

  /** @internal the walk only */
  addHttp(start: number, end: number): void {
    this.#http.add(start, end);
  }
}

/** Decodes a CheckRequest into a new view (see CheckRequestView.decode). */
export function decodeCheckRequest(bytes: Buffer): CheckRequestView {
  return new CheckRequestView().decode(bytes);
}
