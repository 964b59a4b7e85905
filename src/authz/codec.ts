/**
 * Protobuf wire format for the Check and Health calls, written by hand against the field numbers
 * of proto/ (SPEC §3). A CheckRequest is decoded into a view of where its fields lie
 * (check-request.ts); nothing is materialised until it is asked for. Encoding builds answers from
 * small pre-encoded pieces. Malformed input throws MalformedMessageError, nothing else.
 */

import { Cursor, lengthEnd, nextLenField, skip } from './wire-read.js';

export {
  CheckRequestView,
  DESTINATION_TAGS_EXTENSION,
  decodeCheckRequest,
  TEXT_FIELD,
  type TextField,
} from './check-request.js';
export {
  type CheckResponseParts,
  encodeCheckResponse,
  encodeHealthCheckResponse,
  encodeStringStruct,
  HEALTH_SERVING_STATUS,
  type HealthServingStatus,
} from './encode.js';
export { MalformedMessageError } from './wire-read.js';

/** grpc.health.v1.HealthCheckRequest: the service name ('' when absent). */
export function decodeHealthCheckRequest(bytes: Buffer): string {
  const c = new Cursor().reset(bytes);
  let service = '';
  for (let field = nextLenField(c, bytes.length); field !== 0; field = nextLenField(c, bytes.length)) {
    if (field === 1) {
      const end = lengthEnd(c, bytes.length);
      service = c.text(c.pos, end);
      c.pos = end;
    } else skip(c, bytes.length);
  }
  return service;
}
