/**
 * Test-side protobuf: the Envoy-side toolkit's messages and client (kit/wire.mjs, kit/client.mjs),
 * and `root`, the service's own proto/ through protobufjs reflection, for the suites that compare
 * the hand-written codec with an independent reading of the same files.
 */
import { loadServiceProto } from '../../kit/wire.mjs';

export {
  type CheckRequestInit,
  type DecodedCheckResponse,
  decodeCheckResponse,
  decodeHealthResponse,
  encodeCheckRequest,
  encodeHealthRequest,
  type HttpInit,
  type PeerInit,
} from '../../kit/wire.mjs';
export { connect, grpcError, type TestClient } from '../../kit/client.mjs';

export const root = loadServiceProto();
