// The transport floor: src/grpc/ (the service's own gRPC transport, from dist/) serving Check with
// the constant answer of the other floors (0a 00), no handler work: what the transport costs above
// bare node:http2 (bench/h2-floor-server.mjs). Usage: PORT=0 node bench/transport-floor-server.mjs
// → prints "READY <port>" on stdout (after `npm run build`).
import { createGrpcTransport } from '../dist/grpc/server.js';

const OK = Buffer.from([0x0a, 0x00]);
const transport = createGrpcTransport({
  routes: new Map([['/envoy.service.auth.v3.Authorization/Check', { kind: 'unary', handle: () => OK }]]),
  maxRequestBytes: 1024 * 1024,
  maxConcurrentStreams: 256,
});
const port = await transport.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
console.log(`READY ${port}`);
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
