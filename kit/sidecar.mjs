/**
 * The CheckRequest an Envoy sidecar of the destination sends for one call: the peer's address,
 * its first URI SAN as principal and its certificate URL-encoded (include_peer_certificate), the
 * destination's principal and labels (node metadata), and for HTTP the request with its
 * pseudo-headers and request id; the bytes come from wire.mjs.
 */
import { randomUUID } from 'node:crypto';
import { encodeCheckRequest } from './wire.mjs';

/**
 * @typedef {object} SidecarCall
 * @property {{ principal?: string; certificate?: string; address?: string }} [client] The peer: a
 *   plaintext one has no principal or certificate. `certificate` is Envoy's URL-encoded PEM
 *   (see certs.mjs: `urlEncoded`, `envoyUrlEncode`); `address` is `ip:port`.
 * @property {{ principal: string; labels?: Record<string, string>; address?: string }} destination
 * @property {{ method: string; path: string; host: string; id?: string; size?: number; headers?: Record<string, string> }} [http]
 *   Absent for a TCP connection (network filter). `headers` come after the pseudo-headers.
 * @property {Record<string, string>} [contextExtensions]
 * @property {Date} [time] When the request arrived (HTTP only; default: now).
 */

/**
 * @param {string} hostPort
 * @returns {{ socketAddress: { address: string; portValue: number } }}
 */
function address(hostPort) {
  const at = hostPort.lastIndexOf(':');
  return { socketAddress: { address: hostPort.slice(0, at), portValue: Number(hostPort.slice(at + 1)) } };
}

/**
 * The CheckRequest of one call, as a description for wire.mjs.
 * @param {SidecarCall} call
 * @returns {import('./wire.mjs').CheckRequestInit}
 */
export function sidecarCheckRequest(call) {
  const { client, destination, http } = call;
  /** @type {import('./wire.mjs').CheckRequestInit} */
  const init = {
    source: {
      ...(client?.address === undefined ? {} : { address: address(client.address) }),
      ...(client?.principal === undefined ? {} : { principal: client.principal }),
      ...(client?.certificate === undefined ? {} : { certificate: client.certificate }),
    },
    destination: {
      ...(destination.address === undefined ? {} : { address: address(destination.address) }),
      principal: destination.principal,
      ...(destination.labels === undefined ? {} : { labels: destination.labels }),
    },
    ...(call.contextExtensions === undefined ? {} : { contextExtensions: call.contextExtensions }),
  };
  if (http !== undefined) {
    const id = http.id ?? randomUUID();
    init.time = call.time ?? new Date();
    init.http = {
      id,
      method: http.method,
      path: http.path,
      host: http.host,
      scheme: 'http',
      protocol: 'HTTP/1.1',
      ...(http.size === undefined ? {} : { size: http.size }),
      headers: {
        ':authority': http.host,
        ':method': http.method,
        ':path': http.path,
        ':scheme': 'http',
        'x-request-id': id,
        ...http.headers,
      },
    };
  }
  return init;
}

/**
 * The bytes of sidecarCheckRequest(call).
 * @param {SidecarCall} call
 * @returns {Buffer}
 */
export const encodeSidecarCheck = (call) => encodeCheckRequest(sidecarCheckRequest(call));
