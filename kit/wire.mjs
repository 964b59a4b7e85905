/**
 * Envoy's side of the wire: the messages an Envoy ext_authz filter sends and reads, declared here
 * with Envoy's own field numbers (envoy/service/auth/v3/*.proto, envoy/config/core/v3,
 * envoy/type/v3, google/rpc/status.proto, google/protobuf/{struct,timestamp}.proto,
 * grpc/health/v1/health.proto), independently of the service's proto/ and of its hand-written
 * codec; encoded and decoded by protobufjs reflection. Maps travel as entries, as Envoy writes them.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

/** The method paths Envoy and a gRPC health checker call. */
export const CHECK_METHOD = '/envoy.service.auth.v3.Authorization/Check';
export const HEALTH_CHECK_METHOD = '/grpc.health.v1.Health/Check';
export const HEALTH_WATCH_METHOD = '/grpc.health.v1.Health/Watch';

/** @type {(id: number, type?: string) => { type: string; id: number }} */
const field = (id, type = 'string') => ({ type, id });
/** @type {(id: number) => { keyType: string; type: string; id: number }} */
const stringMap = (id) => ({ keyType: 'string', type: 'string', id });

const ENVOY = {
  google: {
    nested: {
      protobuf: {
        nested: {
          Timestamp: { fields: { seconds: field(1, 'int64'), nanos: field(2, 'int32') } },
          Struct: { fields: { fields: { keyType: 'string', type: 'Value', id: 1 } } },
          Value: {
            oneofs: {
              kind: {
                oneof: ['nullValue', 'numberValue', 'stringValue', 'boolValue', 'structValue', 'listValue'],
              },
            },
            fields: {
              nullValue: field(1, 'int32'),
              numberValue: field(2, 'double'),
              stringValue: field(3),
              boolValue: field(4, 'bool'),
              structValue: field(5, 'Struct'),
              listValue: field(6, 'ListValue'),
            },
          },
          ListValue: { fields: { values: { rule: 'repeated', type: 'Value', id: 1 } } },
        },
      },
      rpc: { nested: { Status: { fields: { code: field(1, 'int32'), message: field(2) } } } },
    },
  },
  grpc: {
    nested: {
      health: {
        nested: {
          v1: {
            nested: {
              HealthCheckRequest: { fields: { service: field(1) } },
              HealthCheckResponse: {
                fields: { status: field(1, 'ServingStatus') },
                nested: {
                  ServingStatus: {
                    values: { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
  envoy: {
    nested: {
      config: {
        nested: {
          core: {
            nested: {
              v3: {
                nested: {
                  SocketAddress: { fields: { address: field(2), portValue: field(3, 'uint32') } },
                  Address: { fields: { socketAddress: field(1, 'SocketAddress') } },
                  HeaderValue: { fields: { key: field(1), value: field(2) } },
                  HeaderValueOption: { fields: { header: field(1, 'HeaderValue') } },
                },
              },
            },
          },
        },
      },
      type: { nested: { v3: { nested: { HttpStatus: { fields: { code: field(1, 'int32') } } } } } },
      service: {
        nested: {
          auth: {
            nested: {
              v3: {
                nested: {
                  CheckRequest: { fields: { attributes: field(1, 'AttributeContext') } },
                  AttributeContext: {
                    fields: {
                      source: field(1, 'Peer'),
                      destination: field(2, 'Peer'),
                      request: field(4, 'Request'),
                      contextExtensions: stringMap(10),
                      tlsSession: field(12, 'TLSSession'),
                    },
                    nested: {
                      Peer: {
                        fields: {
                          address: field(1, 'envoy.config.core.v3.Address'),
                          service: field(2),
                          labels: stringMap(3),
                          principal: field(4),
                          certificate: field(5),
                        },
                      },
                      Request: {
                        fields: {
                          time: field(1, 'google.protobuf.Timestamp'),
                          http: field(2, 'HttpRequest'),
                        },
                      },
                      HttpRequest: {
                        fields: {
                          id: field(1),
                          method: field(2),
                          headers: stringMap(3),
                          path: field(4),
                          host: field(5),
                          scheme: field(6),
                          size: field(9, 'int64'),
                          protocol: field(10),
                        },
                      },
                      TLSSession: { fields: { sni: field(1) } },
                    },
                  },
                  CheckResponse: {
                    oneofs: { httpResponse: { oneof: ['deniedResponse', 'okResponse'] } },
                    fields: {
                      status: field(1, 'google.rpc.Status'),
                      deniedResponse: field(2, 'DeniedHttpResponse'),
                      okResponse: field(3, 'OkHttpResponse'),
                      dynamicMetadata: field(4, 'google.protobuf.Struct'),
                    },
                  },
                  DeniedHttpResponse: {
                    fields: {
                      status: field(1, 'envoy.type.v3.HttpStatus'),
                      headers: { rule: 'repeated', type: 'envoy.config.core.v3.HeaderValueOption', id: 2 },
                      body: field(3),
                    },
                  },
                  OkHttpResponse: {
                    fields: {
                      headers: { rule: 'repeated', type: 'envoy.config.core.v3.HeaderValueOption', id: 2 },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
};

/** Envoy's messages, for callers that build or read other ones (Struct, Timestamp, …). */
export const envoyMessages = protobuf.Root.fromJSON({ nested: ENVOY });
const CheckRequest = envoyMessages.lookupType('envoy.service.auth.v3.CheckRequest');
const CheckResponse = envoyMessages.lookupType('envoy.service.auth.v3.CheckResponse');
const HealthCheckRequest = envoyMessages.lookupType('grpc.health.v1.HealthCheckRequest');
const HealthCheckResponse = envoyMessages.lookupType('grpc.health.v1.HealthCheckResponse');

/**
 * One side of the call (protobufjs camelCase field names).
 * @typedef {object} PeerInit
 * @property {string} [principal]
 * @property {string} [certificate] URL-encoded PEM, as Envoy sends it.
 * @property {Record<string, string>} [labels]
 * @property {string} [service]
 * @property {{ socketAddress: { address: string; portValue: number } }} [address]
 */

/**
 * @typedef {object} HttpInit
 * @property {string} [id]
 * @property {string} [method]
 * @property {string} [host]
 * @property {string} [path]
 * @property {string} [scheme]
 * @property {string} [protocol]
 * @property {number} [size]
 * @property {Record<string, string>} [headers]
 */

/**
 * What goes into `attributes`: `http` is `request.http`, `time` is `request.time`, `sni` is
 * `tls_session.sni`.
 * @typedef {object} CheckRequestInit
 * @property {PeerInit} [source]
 * @property {PeerInit} [destination]
 * @property {HttpInit} [http]
 * @property {Date} [time]
 * @property {Record<string, string>} [contextExtensions]
 * @property {string} [sni]
 */

/**
 * CheckRequest bytes, from a plain description.
 * @param {CheckRequestInit} init
 * @returns {Buffer}
 */
export function encodeCheckRequest(init) {
  /** @type {Record<string, unknown>} */
  const attributes = {};
  if (init.source) attributes.source = init.source;
  if (init.destination) attributes.destination = init.destination;
  if (init.http || init.time) {
    const ms = init.time?.getTime() ?? 0;
    attributes.request = {
      ...(init.time ? { time: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 } } : {}),
      ...(init.http ? { http: init.http } : {}),
    };
  }
  if (init.contextExtensions) attributes.contextExtensions = init.contextExtensions;
  if (init.sni !== undefined) attributes.tlsSession = { sni: init.sni };
  const message = CheckRequest.fromObject({ attributes });
  return Buffer.from(CheckRequest.encode(message).finish());
}

/**
 * @typedef {object} DecodedCheckResponse
 * @property {number} code
 * @property {{ httpStatus: number; body: string; headers: unknown[] }} [denied]
 * @property {{ headers: unknown[] }} [ok]
 * @property {Record<string, string>} metadata
 * @property {'deniedResponse' | 'okResponse' | undefined} httpResponse Which oneof member was set, as protobufjs read it.
 */

/**
 * @typedef {object} RawCheckResponse
 * @property {{ code?: number }} [status]
 * @property {{ status?: { code?: number }; body?: string; headers: unknown[] }} [deniedResponse]
 * @property {{ headers: unknown[] }} [okResponse]
 * @property {{ fields?: Record<string, { stringValue?: string }> }} [dynamicMetadata]
 * @property {'deniedResponse' | 'okResponse'} [httpResponse]
 */

/**
 * @param {Uint8Array} bytes
 * @returns {DecodedCheckResponse}
 */
export function decodeCheckResponse(bytes) {
  const raw = /** @type {RawCheckResponse} */ (
    CheckResponse.toObject(CheckResponse.decode(bytes), { enums: Number, oneofs: true, arrays: true })
  );
  /** @type {Record<string, string>} */
  const metadata = {};
  for (const [key, value] of Object.entries(raw.dynamicMetadata?.fields ?? {})) {
    metadata[key] = value.stringValue ?? `<not a string: ${JSON.stringify(value)}>`;
  }
  /** @type {DecodedCheckResponse} */
  const out = { code: raw.status?.code ?? 0, metadata, httpResponse: raw.httpResponse };
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

/**
 * @param {string} service
 * @returns {Buffer}
 */
export function encodeHealthRequest(service) {
  return Buffer.from(HealthCheckRequest.encode(HealthCheckRequest.fromObject({ service })).finish());
}

/**
 * The serving status by name (`SERVING`, `NOT_SERVING`, …).
 * @param {Uint8Array} bytes
 * @returns {string}
 */
export function decodeHealthResponse(bytes) {
  const raw = HealthCheckResponse.toObject(HealthCheckResponse.decode(bytes), {
    enums: String,
    defaults: true,
  });
  return /** @type {string} */ (raw.status);
}

/**
 * A gRPC message frame: 0 (no compression), 4-byte big-endian length, the message.
 * @param {Uint8Array} message
 * @returns {Buffer}
 */
export function grpcFrame(message) {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/**
 * The service's own declaration of the messages (proto/, the subset it reads and writes), through
 * protobufjs reflection: what callers compare the service's hand-written codec with.
 * @returns {protobuf.Root}
 */
export function loadServiceProto() {
  const dir = fileURLToPath(new URL('../proto', import.meta.url));
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(dir, target);
  root.loadSync(['envoy/service/auth/v3/external_auth.proto', 'grpc/health/v1/health.proto']);
  root.resolveAll();
  return root;
}

/**
 * The HTTP/2 request headers of a gRPC call on `path`, as a client sends them.
 * @param {string} [path]
 * @returns {{ ':method': 'POST'; ':path': string; 'content-type': 'application/grpc'; te: 'trailers' }}
 */
export const grpcRequestHeaders = (path = CHECK_METHOD) => ({
  ':method': 'POST',
  ':path': path,
  'content-type': 'application/grpc',
  te: 'trailers',
});
