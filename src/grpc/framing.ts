/**
 * gRPC length-prefixed messages: 1 flag byte (bit 0: compressed), 4 bytes big-endian length, the
 * message. A unary request body holds exactly one; this reader collects it from DATA chunks,
 * refusing a message over the size limit as soon as its prefix shows it, before buffering it.
 */
import { GRPC_STATUS, GrpcFailure } from './status.js';

export const PREFIX_BYTES = 5;

/** One message framed for a response body: one buffer, written in one DATA frame. */
export function frameMessage(message: Buffer): Buffer {
  const framed = Buffer.allocUnsafe(PREFIX_BYTES + message.length);
  framed[0] = 0;
  framed.writeUInt32BE(message.length, 1);
  message.copy(framed, PREFIX_BYTES);
  return framed;
}

/** Framed answers kept, by the identity of the message buffer. */
const FRAMED_SLOTS = 8;

/**
 * Frames messages, keeping the last few framed: handlers answer with shared constant buffers (one
 * per decision), so the same message is framed once, not copied into a new buffer every call.
 * Keyed by the buffer object itself, which is why a message must not change once answered.
 */
export class FramedMessages {
  readonly #messages: (Buffer | undefined)[] = new Array<Buffer | undefined>(FRAMED_SLOTS).fill(undefined);
  readonly #framed: Buffer[] = new Array<Buffer>(FRAMED_SLOTS);
  #next = 0;

  framed(message: Buffer): Buffer {
    for (let i = 0; i < FRAMED_SLOTS; i++) {
      if (this.#messages[i] === message) return this.#framed[i] as Buffer;
    }
    const framed = frameMessage(message);
    const slot = this.#next;
    this.#next = (slot + 1) % FRAMED_SLOTS;
    this.#messages[slot] = message;
    this.#framed[slot] = framed;
    return framed;
  }
}

/** What a finished body held: its message, or why it is refused. */
export type ReadResult = Buffer | GrpcFailure;

export function oversized(length: number, maxBytes: number): GrpcFailure {
  return new GrpcFailure(
    GRPC_STATUS.RESOURCE_EXHAUSTED,
    `request message of ${length} bytes is over the limit of ${maxBytes} (--max-request-bytes)`,
  );
}

/**
 * Collects one request body. `push` returns a failure once the body is known to be refused (the
 * caller answers at once and drops the rest); `finish` at the end of the body returns the message.
 */
export class UnaryBodyReader {
  #first: Buffer | undefined;
  #chunks: Buffer[] | undefined;
  #bytes = 0;

  constructor(private readonly maxBytes: number) {}

  push(chunk: Buffer): GrpcFailure | undefined {
    if (this.#first === undefined) this.#first = chunk;
    else (this.#chunks ??= [this.#first]).push(chunk);
    const before = this.#bytes;
    this.#bytes += chunk.length;
    if (before < PREFIX_BYTES && this.#bytes >= PREFIX_BYTES) {
      const length = this.#body().readUInt32BE(1);
      if (length > this.maxBytes) return oversized(length, this.maxBytes);
    }
    // A second message (or trailing bytes) would be refused at the end anyway: stop buffering.
    if (this.#bytes > PREFIX_BYTES + this.maxBytes) return trailing();
    return undefined;
  }

  finish(): ReadResult {
    const result = this.#read();
    // The body is handed over once: the reader, which lives as long as its stream, keeps none of it.
    this.#first = undefined;
    this.#chunks = undefined;
    return result;
  }

  #read(): ReadResult {
    if (this.#bytes === 0) return new GrpcFailure(GRPC_STATUS.INTERNAL, 'request has no message');
    const body = this.#body();
    if (body.length < PREFIX_BYTES)
      return new GrpcFailure(GRPC_STATUS.INTERNAL, 'request frame is truncated');
    if (body[0] !== 0) {
      return new GrpcFailure(
        GRPC_STATUS.INTERNAL,
        body[0] === 1
          ? 'request message is compressed, but no grpc-encoding was given'
          : `request frame has unknown flags 0x${(body[0] as number).toString(16)}`,
      );
    }
    const length = body.readUInt32BE(1);
    const end = PREFIX_BYTES + length;
    if (body.length < end) {
      return new GrpcFailure(
        GRPC_STATUS.INTERNAL,
        `request frame is truncated: ${body.length - PREFIX_BYTES} of ${length} message bytes`,
      );
    }
    if (body.length > end) return trailing();
    return body.subarray(PREFIX_BYTES, end);
  }

  #body(): Buffer {
    if (this.#chunks === undefined) return this.#first as Buffer;
    const joined = Buffer.concat(this.#chunks, this.#bytes);
    this.#first = joined;
    this.#chunks = undefined;
    return joined;
  }
}

function trailing(): GrpcFailure {
  return new GrpcFailure(GRPC_STATUS.INTERNAL, 'a unary request carries exactly one message');
}
