/**
 * A grpc-js method definition that hands raw message bytes to the handler and sends raw bytes
 * back: decoding and encoding are ours (codec.ts), so grpc-js does no protobuf work at all.
 */
import type * as grpc from '@grpc/grpc-js';

const passthrough = (bytes: Buffer): Buffer => bytes;

export function rawMethod(
  path: string,
  responseStream = false,
): grpc.MethodDefinition<Buffer, Buffer> & { requestStream: false; responseStream: boolean } {
  return {
    path,
    requestStream: false,
    responseStream,
    requestSerialize: passthrough,
    requestDeserialize: passthrough,
    responseSerialize: passthrough,
    responseDeserialize: passthrough,
  };
}
