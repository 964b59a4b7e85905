/**
 * A grpc-js client that calls the service as Envoy does: raw CheckRequest bytes on the real method
 * path (see wire.mjs for the bytes), metadata as the filter's initial_metadata would set it, and
 * the gRPC health methods a health checker calls.
 */
import * as grpc from '@grpc/grpc-js';
import {
  CHECK_METHOD,
  decodeCheckResponse,
  decodeHealthResponse,
  encodeCheckRequest,
  encodeHealthRequest,
  HEALTH_CHECK_METHOD,
  HEALTH_WATCH_METHOD,
} from './wire.mjs';

/** @type {(bytes: Buffer) => Buffer} */
const passthrough = (bytes) => bytes;
/** @type {(path: string, responseStream: boolean) => grpc.MethodDefinition<Buffer, Buffer>} */
const method = (path, responseStream) => ({
  path,
  requestStream: false,
  responseStream,
  requestSerialize: passthrough,
  requestDeserialize: passthrough,
  responseSerialize: passthrough,
  responseDeserialize: passthrough,
});

const RawClient = grpc.makeGenericClientConstructor(
  {
    Check: method(CHECK_METHOD, false),
    HealthCheck: method(HEALTH_CHECK_METHOD, false),
    HealthWatch: method(HEALTH_WATCH_METHOD, true),
  },
  'mtp-authz-envoy-side',
);

/**
 * @typedef {(req: Buffer, md: grpc.Metadata, opts: grpc.CallOptions, cb: grpc.requestCallback<Buffer>) => void} Unary
 * @typedef {grpc.Client & { Check: Unary; HealthCheck: Unary; HealthWatch: (req: Buffer, md: grpc.Metadata) => grpc.ClientReadableStream<Buffer> }} RawMethods
 */

/**
 * @typedef {object} TestClient
 * @property {(request: import('./wire.mjs').CheckRequestInit | Buffer, metadata?: Record<string, string>) => Promise<import('./wire.mjs').DecodedCheckResponse>} check
 *   Sends CheckRequest bytes (or a description of one) and decodes the answer.
 * @property {(request: Buffer, metadata?: Record<string, string>) => Promise<Buffer>} checkRaw
 * @property {(service: string) => Promise<string>} health
 * @property {(service: string) => grpc.ClientReadableStream<Buffer>} watch
 * @property {() => void} close
 * @property {grpc.Client} raw
 */

/**
 * @param {string} target
 * @param {grpc.ChannelCredentials} [credentials]
 * @param {grpc.ClientOptions} [options]
 * @param {number} [deadlineMs] How long a call may take.
 * @returns {TestClient}
 */
export function connect(
  target,
  credentials = grpc.credentials.createInsecure(),
  options = {},
  deadlineMs = 10_000,
) {
  const client = /** @type {RawMethods} */ (
    /** @type {unknown} */ (new RawClient(target, credentials, options))
  );
  /** @type {() => grpc.CallOptions} */
  const deadline = () => ({ deadline: Date.now() + deadlineMs });
  /** @type {(entries?: Record<string, string>) => grpc.Metadata} */
  const metadataOf = (entries = {}) => {
    const md = new grpc.Metadata();
    for (const [key, value] of Object.entries(entries)) md.set(key, value);
    return md;
  };
  /** @type {(call: Unary, request: Buffer, metadata?: Record<string, string>) => Promise<Buffer>} */
  const unary = (call, request, metadata) =>
    new Promise((resolve, reject) => {
      call.call(client, request, metadataOf(metadata), deadline(), (error, response) =>
        error || response === undefined ? reject(error) : resolve(response),
      );
    });
  /** @type {TestClient['checkRaw']} */
  const checkRaw = (request, metadata) => unary(client.Check, request, metadata);
  return {
    raw: client,
    checkRaw,
    async check(request, metadata) {
      const bytes = Buffer.isBuffer(request) ? request : encodeCheckRequest(request);
      return decodeCheckResponse(await checkRaw(bytes, metadata));
    },
    async health(service) {
      return decodeHealthResponse(await unary(client.HealthCheck, encodeHealthRequest(service)));
    },
    watch(service) {
      return client.HealthWatch(encodeHealthRequest(service), new grpc.Metadata());
    },
    close() {
      client.close();
    },
  };
}

/**
 * Resolves with the gRPC error a call failed with (and throws if it succeeded).
 * @param {Promise<unknown>} call
 * @returns {Promise<grpc.ServiceError>}
 */
export async function grpcError(call) {
  try {
    await call;
  } catch (error) {
    return /** @type {grpc.ServiceError} */ (error);
  }
  throw new Error('expected the call to fail');
}
