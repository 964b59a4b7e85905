/**
 * Protobuf encoding of the Check and Health answers (SPEC §3), by hand against the field numbers
 * of proto/: answers are built from small pre-encoded pieces. codec.ts decodes the requests.
 */

export const WIRE_VARINT = 0;
export const WIRE_LEN = 2;

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
