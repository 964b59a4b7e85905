/** gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html), as this port uses them. */
export const GRPC_STATUS = {
  OK: 0,
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;
export type GrpcStatusCode = (typeof GRPC_STATUS)[keyof typeof GRPC_STATUS];

/** A call's failure: the status and message sent in its trailers instead of an answer. */
export class GrpcFailure {
  constructor(
    readonly code: GrpcStatusCode,
    readonly details: string,
  ) {}
}

/**
 * `grpc-message` is percent-encoded (gRPC over HTTP/2): every byte outside printable ASCII, and
 * `%` itself, as `%XX` of its UTF-8 bytes.
 */
export function percentEncode(message: string): string {
  if (/^[\x20-\x24\x26-\x7e]*$/.test(message)) return message;
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Client-sent text quoted back in a message: JSON-quoted, at most 64 characters of it, whatever was sent. */
export function quoted(value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
}
