/**
 * The walk of a CheckRequest's bytes: one function per message type on the way to the fields
 * mtp-authz reads, each checking its message (every length within its parent, the message ending
 * exactly where its length said) and recording where fields lie in a FieldSink. Nothing is
 * decoded into strings here. Malformed input throws MalformedMessageError.
 */
import { closeMessage, type Cursor, lengthEnd, nextLenField, skip } from './wire-read.js';

/**
 * The single-valued string fields a CheckRequest view locates. Protobuf's rule applies: when a
 * field occurs more than once (also through repeated enclosing messages, which merge), the last
 * occurrence wins. The fields read lazily (see CheckRequestView) are numbered last.
 */
export const TEXT_FIELD = {
  /** attributes.source.principal */
  sourcePrincipal: 0,
  /** attributes.source.certificate: the URL-encoded PEM. */
  sourceCertificate: 1,
  /** attributes.context_extensions["mtp.destination-tags"] */
  destinationTagsExtension: 2,
  /** attributes.tls_session.sni */
  tlsSni: 3,
  /** attributes.destination.principal: read with the destination message, when first asked for. */
  destinationPrincipal: 4,
  /** attributes.request.http.id (this and the next three: read when a decision log asks) */
  httpId: 5,
  /** attributes.request.http.method */
  httpMethod: 6,
  /** attributes.request.http.host */
  httpHost: 7,
  /** attributes.request.http.path */
  httpPath: 8,
} as const;
export type TextField = (typeof TEXT_FIELD)[keyof typeof TEXT_FIELD];
export const TEXT_FIELD_COUNT = 9;
export const FIRST_LAZY_FIELD = TEXT_FIELD.destinationPrincipal;
export const HTTP_FIELDS = [
  TEXT_FIELD.httpId,
  TEXT_FIELD.httpMethod,
  TEXT_FIELD.httpHost,
  TEXT_FIELD.httpPath,
] as const;

export const DESTINATION_TAGS_EXTENSION = 'mtp.destination-tags';
const DESTINATION_TAGS_KEY = Buffer.from(DESTINATION_TAGS_EXTENSION);

/** Where the walk records what it found. */
export interface FieldSink {
  setSpan(field: TextField, start: number, end: number): void;
  /** An attributes.destination message, checked later (walkDestination). */
  addDestination(start: number, end: number): void;
  /** An attributes.request.http message, read later (walkHttpRequest). */
  addHttp(start: number, end: number): void;
}

/**
 * Moves past a length-delimited field's bytes and returns where they start (they end at the new
 * `c.pos`): for a message located now and read later.
 */
function stepOver(c: Cursor, limit: number): number {
  const end = lengthEnd(c, limit);
  const start = c.pos;
  c.pos = end;
  return start;
}

/** A string field: records where its bytes lie and moves past them. */
function span(c: Cursor, limit: number, sink: FieldSink, field: TextField): void {
  const end = lengthEnd(c, limit);
  sink.setSpan(field, c.pos, end);
  c.pos = end;
}

/**
 * One `map<string, string>` entry: checks it and leaves where its key and value lie in the cursor.
 * Later key or value fields win, as in any protobuf decoder.
 */
export function mapEntry(c: Cursor, limit: number): void {
  const end = lengthEnd(c, limit);
  c.keyStart = c.keyEnd = c.pos;
  c.valueStart = c.valueEnd = -1;
  for (let field = nextLenField(c, end); field !== 0; field = nextLenField(c, end)) {
    if (field === 1 || field === 2) {
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
export function keyIs(c: Cursor, key: Uint8Array): boolean {
  if (c.keyEnd - c.keyStart !== key.length) return false;
  for (let i = 0; i < key.length; i++) if (c.buf[c.keyStart + i] !== key[i]) return false;
  return true;
}

/** The value of the entry just read, recorded as `field` ('' when it had no value field). */
function entryValue(c: Cursor, sink: FieldSink, field: TextField): void {
  if (c.valueStart < 0) sink.setSpan(field, c.keyEnd, c.keyEnd);
  else sink.setSpan(field, c.valueStart, c.valueEnd);
}

/** A CheckRequest: attributes = 1. */
export function walkCheckRequest(c: Cursor, end: number, sink: FieldSink): void {
  for (let field = nextLenField(c, end); field !== 0; field = nextLenField(c, end)) {
    if (field === 1) attributeContext(c, lengthEnd(c, end), sink);
    else skip(c, end);
  }
}

function attributeContext(c: Cursor, end: number, sink: FieldSink): void {
  for (let field = nextLenField(c, end); field !== 0; field = nextLenField(c, end)) {
    switch (field) {
      case 1: // source
        source(c, lengthEnd(c, end), sink);
        break;
      case 2: // destination: located now, checked when first read (walkDestination)
        sink.addDestination(stepOver(c, end), c.pos);
        break;
      case 4: // request
        request(c, lengthEnd(c, end), sink);
        break;
      case 10: // context_extensions
        mapEntry(c, end);
        if (keyIs(c, DESTINATION_TAGS_KEY)) entryValue(c, sink, TEXT_FIELD.destinationTagsExtension);
        break;
      case 12: // tls_session
        tlsSession(c, lengthEnd(c, end), sink);
        break;
      default:
        skip(c, end);
    }
  }
  closeMessage(c, end);
}

function tlsSession(c: Cursor, end: number, sink: FieldSink): void {
  for (let field = nextLenField(c, end); field !== 0; field = nextLenField(c, end)) {
    if (field === 1) span(c, end, sink, TEXT_FIELD.tlsSni);
    else skip(c, end);
  }
  closeMessage(c, end);
}

function source(c: Cursor, end: number, sink: FieldSink): void {
  for (let field = nextLenField(c, end); field !== 0; field = nextLenField(c, end)) {
    if (field === 4) span(c, end, sink, TEXT_FIELD.sourcePrincipal);
    else if (field === 5) span(c, end, sink, TEXT_FIELD.sourceCertificate);
    else skip(c, end);
  }
  closeMessage(c, end);
}

/** An attributes.destination message: its principal, and its labels checked. */
export function walkDestination(c: Cursor, end: number, sink: FieldSink): void {
  for (let field = nextLenField(c, end); field !== 0; field = nextLenField(c, end)) {
    if (field === 4) span(c, end, sink, TEXT_FIELD.destinationPrincipal);
    else if (field === 3) mapEntry(c, end);
    else skip(c, end);
  }
  closeMessage(c, end);
}

function request(c: Cursor, end: number, sink: FieldSink): void {
  for (let field = nextLenField(c, end); field !== 0; field = nextLenField(c, end)) {
    // http: located now, read only when asked for (walkHttpRequest).
    if (field === 2) sink.addHttp(stepOver(c, end), c.pos);
    else skip(c, end);
  }
  closeMessage(c, end);
}

/** attributes.request.http's field numbers, and the text field each is recorded as. */
const HTTP_TEXT_FIELDS: ReadonlyMap<number, TextField> = new Map([
  [1, TEXT_FIELD.httpId],
  [2, TEXT_FIELD.httpMethod],
  [4, TEXT_FIELD.httpPath],
  [5, TEXT_FIELD.httpHost],
]);

/** An attributes.request.http message: its request line. */
export function walkHttpRequest(c: Cursor, end: number, sink: FieldSink): void {
  for (let field = nextLenField(c, end); field !== 0; field = nextLenField(c, end)) {
    const text = HTTP_TEXT_FIELDS.get(field);
    if (text !== undefined) span(c, end, sink, text);
    else skip(c, end);
  }
  closeMessage(c, end);
}
