// The floor of SPEC §9: a minimal grpc-js server on the Check method that answers every call with
// constant bytes (CheckResponse{status{}} = 0a 00), no decoding, no logic. Same grpc-js as the
// service. Usage: PORT=50051 node bench/floor-server.mjs   → prints "READY <port>" on stdout.
import grpc from '@grpc/grpc-js';

const identity = (b) => b;
const OK = Buffer.from([0x0a, 0x00]);
const server = new grpc.Server({ 'grpc.max_receive_message_length': 1024 * 1024 });
server.addService(
  {
    Check: {
      path: '/envoy.service.auth.v3.Authorization/Check',
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    },
  },
  { Check: (_call, callback) => callback(null, OK) },
);
server.bindAsync(
  `127.0.0.1:${process.env.PORT ?? 0}`,
  grpc.ServerCredentials.createInsecure(),
  (err, port) => {
    if (err) {
      console.error(err.message);
      process.exit(1);
    }
    console.log(`READY ${port}`);
  },
);
const stop = () => server.tryShutdown(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
