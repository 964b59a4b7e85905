// The node:http2 floor of SPEC §9: a constant-answer gRPC server on node:http2 alone, no gRPC
// library: what the transport itself allows. It answers every stream on any path with
// CheckResponse{status{}} (0a 00) and grpc-status 0 in trailers, as the service does.
// Usage: PORT=0 node bench/h2-floor-server.mjs   → prints "READY <port>" on stdout.
import http2 from 'node:http2';

const BODY = Buffer.from([0, 0, 0, 0, 2, 0x0a, 0x00]);
const HEADERS = { ':status': 200, 'content-type': 'application/grpc' };
const TRAILERS = { 'grpc-status': '0' };
const server = http2.createServer({ settings: { maxConcurrentStreams: 256 } });
server.on('stream', (stream) => {
  stream.on('error', () => {});
  stream.on('data', () => {});
  stream.on('end', () => {
    // A client that stops (h2load at the end of a timed run) resets streams it still had open.
    if (stream.destroyed) return;
    stream.respond(HEADERS, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.destroyed || stream.sendTrailers(TRAILERS));
    stream.end(BODY);
  });
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () =>
  console.log(`READY ${server.address().port}`),
);
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
