// The candidate floor: a constant-answer Check server on @connectrpc/connect-node (the gRPC
// protocol on node:http2), measured like the other floors. Not a dependency of the project: install
// it outside the repository and point CONNECT_DIR there, e.g.
//   npm install --prefix /tmp/connect @connectrpc/connect-node@2.1.2 @connectrpc/connect@2.1.2 @bufbuild/protobuf@2.17.0
//   CONNECT_DIR=/tmp/connect PORT=0 node bench/connect-floor-server.mjs   → prints "READY <port>"
// The method is described at run time: CheckRequest with no fields (unknown fields not kept, the
// least decoding connect allows), CheckResponse as { status: {} }, so every answer is 0a 00.
import http2 from 'node:http2';
import { createRequire } from 'node:module';
import { join } from 'node:path';

if (process.env.CONNECT_DIR === undefined) {
  console.error('set CONNECT_DIR to a directory where @connectrpc/connect-node is installed');
  process.exit(2);
}
const require = createRequire(join(process.env.CONNECT_DIR, 'package.json'));
const { create, createFileRegistry } = require('@bufbuild/protobuf');
const { FileDescriptorProtoSchema } = require('@bufbuild/protobuf/wkt');
const { connectNodeAdapter } = require('@connectrpc/connect-node');

const PACKAGE = 'envoy.service.auth.v3';
const MESSAGE = 11;
const INT32 = 5;
const OPTIONAL = 1;
const file = create(FileDescriptorProtoSchema, {
  name: 'connect-floor.proto',
  package: PACKAGE,
  syntax: 'proto3',
  messageType: [
    { name: 'CheckRequest' },
    { name: 'Status', field: [{ name: 'code', jsonName: 'code', number: 1, type: INT32, label: OPTIONAL }] },
    {
      name: 'CheckResponse',
      field: [
        {
          name: 'status',
          jsonName: 'status',
          number: 1,
          type: MESSAGE,
          label: OPTIONAL,
          typeName: `.${PACKAGE}.Status`,
        },
      ],
    },
  ],
  service: [
    {
      name: 'Authorization',
      method: [
        { name: 'Check', inputType: `.${PACKAGE}.CheckRequest`, outputType: `.${PACKAGE}.CheckResponse` },
      ],
    },
  ],
});
const registry = createFileRegistry(file, () => undefined);
const ANSWER = create(registry.getMessage(`${PACKAGE}.CheckResponse`), {
  status: create(registry.getMessage(`${PACKAGE}.Status`)),
});
const handler = connectNodeAdapter({
  grpc: true,
  grpcWeb: false,
  connect: false,
  readMaxBytes: 1024 * 1024,
  binaryOptions: { readUnknownFields: false },
  routes: (router) =>
    router.service(registry.getService(`${PACKAGE}.Authorization`), { check: () => ANSWER }),
});
const server = http2.createServer({ settings: { maxConcurrentStreams: 256 } }, handler);
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () =>
  console.log(`READY ${server.address().port}`),
);
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
