/**
 * The Envoy sidecar configs agree with the service: both ext_authz filters send the peer
 * certificate and fail closed, the destination tags come from node metadata, the authz cluster
 * reaches the gRPC listener over HTTP/2 and health-checks the Authorization service, and the
 * access logs print the dynamic_metadata keys the service returns.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseGrpcAddress } from '../../src/settings/values.js';
import { CONTRACT, loadYaml, REPO } from './contract.js';

const HTTP_EXT_AUTHZ = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
const NETWORK_EXT_AUTHZ = 'type.googleapis.com/envoy.extensions.filters.network.ext_authz.v3.ExtAuthz';
const HCM =
  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const DOWNSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const HTTP_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

// The parts of an Envoy bootstrap these tests read.
interface TypedConfig {
  readonly '@type': string;
  readonly [field: string]: unknown;
}
interface Filter {
  readonly name: string;
  readonly typed_config: TypedConfig;
}
interface Listener {
  readonly name: string;
  readonly filter_chains: { transport_socket?: { typed_config: TypedConfig }; filters: Filter[] }[];
}
interface Address {
  readonly socket_address?: { address: string; port_value: number };
  readonly pipe?: { path: string };
}
interface Cluster {
  readonly name: string;
  readonly typed_extension_protocol_options?: Record<string, TypedConfig>;
  readonly load_assignment: { endpoints: { lb_endpoints: { endpoint: { address: Address } }[] }[] };
  readonly health_checks?: { grpc_health_check?: { service_name?: string } }[];
}
interface ExtAuthz extends TypedConfig {
  readonly grpc_service: { envoy_grpc: { cluster_name: string }; timeout?: string };
}
interface Bootstrap {
  readonly node: { metadata: Record<string, unknown> };
  readonly static_resources: { listeners: Listener[]; clusters: Cluster[] };
}

const load = (file: string): Bootstrap => {
  const docs = loadYaml(join(REPO, 'envoy', file));
  expect(docs).toHaveLength(1);
  return docs[0] as Bootstrap;
};

/** Every typed_config of a filter in the listeners, HTTP filters included. */
function filtersOf(listener: Listener): TypedConfig[] {
  return listener.filter_chains.flatMap((chain) =>
    chain.filters.flatMap((filter) => {
      const config = filter.typed_config;
      const httpFilters = (config.http_filters ?? []) as Filter[];
      return [config, ...httpFilters.map((f) => f.typed_config)];
    }),
  );
}

/** Every string under a value. */
function stringsIn(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (value === null || typeof value !== 'object') return [];
  return Object.values(value).flatMap(stringsIn);
}

const seconds = (duration: string | undefined): number =>
  Number(/^(\d+(?:\.\d+)?)s$/.exec(duration ?? '')?.[1]);

describe.each([
  ['sidecar.yaml', 'tcp'],
  ['sidecar-unix.yaml', 'unix'],
] as const)('envoy/%s', (file, transport) => {
  const config = load(file);
  const { listeners, clusters } = config.static_resources;
  const extAuthz = listeners.flatMap(filtersOf).filter((c) => c['@type'].endsWith('ext_authz.v3.ExtAuthz'));
  const httpFilter = extAuthz.find((c) => c['@type'] === HTTP_EXT_AUTHZ) as ExtAuthz;
  const networkFilter = extAuthz.find((c) => c['@type'] === NETWORK_EXT_AUTHZ) as ExtAuthz;
  const clusterName = httpFilter.grpc_service.envoy_grpc.cluster_name;
  const cluster = clusters.find((c) => c.name === clusterName) as Cluster;

  it('has one HTTP and one network ext_authz filter, both on the same authz cluster', () => {
    expect(extAuthz.map((c) => c['@type']).sort()).toEqual([HTTP_EXT_AUTHZ, NETWORK_EXT_AUTHZ]);
    expect(networkFilter.grpc_service.envoy_grpc.cluster_name).toBe(clusterName);
    expect(cluster).toBeDefined();
  });

  it.each([
    ['HTTP', () => httpFilter],
    ['network', () => networkFilter],
  ])('%s filter: V3, peer certificate sent, fails closed, short timeout', (_, filter) => {
    const f = filter();
    expect(f.transport_api_version).toBe('V3');
    expect(f.include_peer_certificate).toBe(true);
    expect(f.failure_mode_allow).toBe(false);
    const timeout = seconds(f.grpc_service.timeout);
    expect(timeout).toBeGreaterThan(0);
    expect(timeout).toBeLessThanOrEqual(1);
  });

  it('answers 403 when mtp-authz cannot be reached (HTTP)', () => {
    expect(httpFilter.status_on_error).toEqual({ code: 'Forbidden' });
  });

  it('copies the destination tags from node metadata on both filters', () => {
    const key = httpFilter.bootstrap_metadata_labels_key as string;
    expect(networkFilter.bootstrap_metadata_labels_key).toBe(key);
    const tags = config.node.metadata[key] as Record<string, unknown>;
    expect(Object.keys(tags).length).toBeGreaterThan(0);
    for (const [k, v] of Object.entries(tags)) {
      expect(k).toMatch(CONTRACT.tagKey);
      expect(v).toEqual(expect.stringMatching(CONTRACT.tagValue));
    }
    // kuma.io/service always comes from the local certificate's SPIFFE ID.
    expect(tags).not.toHaveProperty('kuma.io/service');
  });

  it('puts ext_authz before the router and before tcp_proxy, behind mTLS that requires a client cert', () => {
    for (const listener of listeners) {
      for (const chain of listener.filter_chains) {
        const tls = chain.transport_socket?.typed_config;
        expect(tls?.['@type'], listener.name).toBe(DOWNSTREAM_TLS);
        expect(tls?.require_client_certificate, listener.name).toBe(true);
        const types = chain.filters.map((f) => f.typed_config['@type']);
        if (types[0] === HCM) {
          const httpFilters = (chain.filters[0]?.typed_config.http_filters ?? []) as Filter[];
          const http = httpFilters.map((f) => f.typed_config['@type']);
          expect(http).toEqual([HTTP_EXT_AUTHZ, ROUTER]);
        } else {
          expect(types).toEqual([NETWORK_EXT_AUTHZ, TCP_PROXY]);
        }
      }
    }
  });

  it('reaches the gRPC listener of the service over HTTP/2', () => {
    const endpoints = cluster.load_assignment.endpoints.flatMap((e) => e.lb_endpoints);
    expect(endpoints).toHaveLength(1);
    const address = endpoints[0]?.endpoint.address;
    if (transport === 'tcp') {
      expect(address?.socket_address).toEqual({ address: '127.0.0.1', port_value: CONTRACT.grpcPort });
    } else {
      expect(address?.pipe?.path).toBe(CONTRACT.unixSocket);
      // The address mtp-authz is told to listen on, read by the service's own parser.
      const serveAddress = `unix://${CONTRACT.unixSocket}`;
      expect(parseGrpcAddress(serveAddress)).toEqual({ kind: 'unix', path: CONTRACT.unixSocket });
      expect(readFileSync(join(REPO, 'envoy/README.md'), 'utf8')).toContain(`--grpc-address ${serveAddress}`);
      expect(readFileSync(join(REPO, 'envoy', file), 'utf8')).toContain(`--grpc-address ${serveAddress}`);
    }
    const options = cluster.typed_extension_protocol_options?.[HTTP_OPTIONS];
    expect(options?.['@type']).toBe(`type.googleapis.com/${HTTP_OPTIONS}`);
    const explicit = options?.explicit_http_config as Record<string, unknown>;
    expect(Object.keys(explicit)).toEqual(['http2_protocol_options']);
    expect(typeof explicit.http2_protocol_options).toBe('object');
  });

  it('health-checks the Authorization service over gRPC', () => {
    expect(cluster.health_checks).toHaveLength(1);
    expect(cluster.health_checks?.[0]?.grpc_health_check?.service_name).toBe(CONTRACT.healthService);
    expect(CONTRACT.checkPath).toBe(`/${CONTRACT.healthService}/Check`);
  });

  it('logs the dynamic_metadata the service returns, under the namespace of each filter', () => {
    for (const listener of listeners) {
      const namespace = listener.filter_chains.some((c) => c.filters[0]?.typed_config['@type'] === HCM)
        ? CONTRACT.httpFilterNamespace
        : CONTRACT.networkFilterNamespace;
      const referenced = stringsIn(listener)
        .flatMap((s) => [...s.matchAll(/%DYNAMIC_METADATA\(([^:)]+):([^)]+)\)%/g)])
        .map((m) => `${m[1]}:${m[2]}`);
      expect(referenced.sort(), listener.name).toEqual(
        CONTRACT.metadataKeys.map((k) => `${namespace}:${k}`).sort(),
      );
    }
  });
});

describe('envoy/sidecar-unix.yaml', () => {
  it('is sidecar.yaml with only the authz endpoint changed', () => {
    const tcp = load('sidecar.yaml');
    const unix = load('sidecar-unix.yaml');
    const withoutEndpoints = (b: Bootstrap) => ({
      ...b,
      static_resources: {
        ...b.static_resources,
        clusters: b.static_resources.clusters.map((c) =>
          c.name === 'ext-authz' ? { ...c, load_assignment: undefined } : c,
        ),
      },
    });
    expect(withoutEndpoints(unix)).toEqual(withoutEndpoints(tcp));
  });
});

describe('envoy/README.md', () => {
  it('names no network ext_authz setting Envoy does not have', () => {
    // ExtAuthz (network) v3 has no connect-time check: the call is made on the first bytes.
    expect(readFileSync(join(REPO, 'envoy/README.md'), 'utf8')).not.toContain('check_on_new_connection');
  });
});
