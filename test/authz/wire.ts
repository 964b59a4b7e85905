/**
 * Test-side protobuf: the messages of proto/ through protobufjs reflection (independent of the
 * hand-written codec under test), and a grpc-js client that speaks to the real method paths as
 * Envoy does: maps as entries, URL-encoded PEM in source.certificate.
 */
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

const PROTO_DIR = join(import.meta.dirname, '../../proto');

function loadRoot(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(PROTO_DIR, target);
  root.loadSync(['envoy/service/auth/v3/external_auth.proto', 'grpc/health/v1/health.proto']);
  root.resolveAll();
  return root;
}

export const root = loadRoot();
const CheckRequest = root.lookupType('envoy.service.auth.v3.CheckRequest');
const CheckResponse = root.lookupType('envoy.service.auth.v3.CheckResponse');
const HealthCheckRequest = root.lookupType('grpc.health.v1.HealthCheckRequest');
const HealthCheckResponse = root.lookupType('grpc.health.v1.HealthCheckResponse');

export interface PeerInit {
  principal?: string;
  certificate?: string;
  labels?: Record<string, string>;
  service?: string;
}

export interface CheckRequestInit {
  source?: PeerInit;
  destination?: PeerInit;
  http?: { id?: string; method?: string; host?: string; path?: string; headers?: Record<string, string> };
  contextExtensions?: Record<string, string>;
  /** attributes.tls_session.sni */
  sni?: string;
}

/** CheckRequest bytes, from a plain description (protobufjs camelCase field names). */
export function encodeCheckRequest(init: CheckRequestInit): Buffer {
  const attributes: Record<string, unknown> = {};
  if (init.source) attributes.source = init.source;
  if (init.destination) attributes.destination = init.destination;
  if (init.http) attributes.request = { http: init.http };
  if (init.contextExtensions) attributes.contextExtensions = init.contextExtensions;
  if (init.sni !== undefined) attributes.tlsSession = { sni: init.sni };
  const message = CheckRequest.fromObject({ attributes });
  return Buffer.from(CheckRequest.encode(message).finish());
}

export interface DecodedCheckResponse {
  code: number;
  denied?: { httpStatus: number; body: string; headers: unknown[] };
  ok?: { headers: unknown[] };
  metadata: Record<string, string>;
  /** Which oneof member was set, as protobufjs read it. */
  httpResponse: 'deniedResponse' | 'okResponse' | undefined;
}

interface RawValue {
  stringValue?: string;
}

export function decodeCheckResponse(bytes: Uint8Array): DecodedCheckResponse {
  const raw = CheckResponse.toObject(CheckResponse.decode(bytes), {
    enums: Number,
    oneofs: true,
    arrays: true,
  }) as {
    status?: { code?: number };
    deniedResponse?: { status?: { code?: number }; body?: string; headers: unknown[] };
    okResponse?: { headers: unknown[] };
    dynamicMetadata?: { fields?: Record<string, RawValue> };
    httpResponse?: 'deniedResponse' | 'okResponse';
  };
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw.dynamicMetadata?.fields ?? {})) {
    metadata[key] = value.stringValue ?? `<not a string: ${JSON.stringify(value)}>`;
  }
  const out: DecodedCheckResponse = { code: raw.status?.code ?? 0, metadata, httpResponse: raw.httpResponse };
  if (raw.deniedResponse) {
    out.denied = {
      httpStatus: raw.deniedResponse.status?.code ?? 0,
      body: raw.deniedResponse.body ?? '',
      headers: raw.deniedResponse.headers,
    };
  }
  if (raw.okResponse) out.ok = { headers: raw.okResponse.headers };
  return out;
}

export function encodeHealthRequest(service: string): Buffer {
  return Buffer.from(HealthCheckRequest.encode(HealthCheckRequest.fromObject({ service })).finish());
}

export function decodeHealthResponse(bytes: Uint8Array): string {
  const raw = HealthCheckResponse.toObject(HealthCheckResponse.decode(bytes), {
    enums: String,
    defaults: true,
  });
  return raw.status as string;
}

// ---------------------------------------------------------------------------------------------
// A raw-bytes grpc-js client

const passthrough = (bytes: Buffer): Buffer => bytes;
const method = (path: string, responseStream: boolean) => ({
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
    Check: method('/envoy.service.auth.v3.Authorization/Check', false),
    HealthCheck: method('/grpc.health.v1.Health/Check', false),
    HealthWatch: method('/grpc.health.v1.Health/Watch', true),
  },
  'mtp-authz-test',
);

export interface TestClient {
  /** Sends CheckRequest bytes (or a description of one) and decodes the answer. */
  check(request: CheckRequestInit | Buffer, metadata?: Record<string, string>): Promise<DecodedCheckResponse>;
  checkRaw(request: Buffer, metadata?: Record<string, string>): Promise<Buffer>;
  health(service: string): Promise<string>;
  watch(service: string): grpc.ClientReadableStream<Buffer>;
  close(): void;
  readonly raw: grpc.Client;
}

export function connect(
  target: string,
  credentials = grpc.credentials.createInsecure(),
  options = {},
): TestClient {
  const client = new RawClient(target, credentials, options) as unknown as grpc.Client & {
    Check: (req: Buffer, md: grpc.Metadata, opts: grpc.CallOptions, cb: grpc.requestCallback<Buffer>) => void;
    HealthCheck: (
      req: Buffer,
      md: grpc.Metadata,
      opts: grpc.CallOptions,
      cb: grpc.requestCallback<Buffer>,
    ) => void;
    HealthWatch: (req: Buffer, md: grpc.Metadata) => grpc.ClientReadableStream<Buffer>;
  };
  const deadline = (): grpc.CallOptions => ({ deadline: Date.now() + 10_000 });
  const metadataOf = (entries: Record<string, string> = {}): grpc.Metadata => {
    const md = new grpc.Metadata();
    for (const [key, value] of Object.entries(entries)) md.set(key, value);
    return md;
  };
  const checkRaw = (request: Buffer, metadata?: Record<string, string>): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      client.Check(request, metadataOf(metadata), deadline(), (error, response) =>
        error || response === undefined ? reject(error) : resolve(response),
      );
    });
  return {
    raw: client,
    checkRaw,
    async check(request, metadata) {
      const bytes = Buffer.isBuffer(request) ? request : encodeCheckRequest(request);
      return decodeCheckResponse(await checkRaw(bytes, metadata));
    },
    health(service) {
      return new Promise((resolve, reject) => {
        client.HealthCheck(
          encodeHealthRequest(service),
          new grpc.Metadata(),
          deadline(),
          (error, response) =>
            error || response === undefined ? reject(error) : resolve(decodeHealthResponse(response)),
        );
      });
    },
    watch(service) {
      return client.HealthWatch(encodeHealthRequest(service), new grpc.Metadata());
    },
    close() {
      client.close();
    },
  };
}

/** Resolves with the gRPC error a call failed with (and fails the test if it succeeded). */
export async function grpcError(call: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await call;
  } catch (error) {
    return error as grpc.ServiceError;
  }
  throw new Error('expected the call to fail');
}
