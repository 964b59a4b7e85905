/**
 * The table of every `serve` flag: its name, env form (`MTP_AUTHZ_<FLAG_IN_SNAKE_CAPS>`), default,
 * help text and value parser, and the typed Settings they fill. settings.ts reads argv and env
 * through it; the help screen and the README table are generated from it.
 */
import { DEFAULT_MAX_URI_SANS } from '../decision/identity.js';
import { LOG_LEVELS, type LogLevel } from '../observability/log.js';
import { parseStoreUrl, type StoreLocation, StoreUrlError } from '../store/dsn.js';
import {
  BadValue,
  choice,
  durationAtLeast,
  type GrpcListenAddress,
  integer,
  nonEmpty,
  parseBoolean,
  parseByteSize,
  parseDuration,
  parseGrpcAddress,
  parseTcpAddress,
  type TcpAddress,
} from './values.js';

export const ACCESS_TYPES = ['rbac', 'static'] as const;
export type AccessType = (typeof ACCESS_TYPES)[number];

/** Who the built-in `default` AccessRoleBinding covers: authenticated callers, or Kong Mesh's everyone. */
export const ADMIN_DEFAULT_BINDINGS = ['authenticated', 'kong-mesh'] as const;
export type AdminDefaultBinding = (typeof ADMIN_DEFAULT_BINDINGS)[number];

export interface Settings {
  readonly policies: readonly string[];
  readonly grpcAddress: GrpcListenAddress;
  readonly httpAddress: TcpAddress;
  readonly grpcTlsCert: string | undefined;
  readonly grpcTlsKey: string | undefined;
  readonly grpcTlsClientCa: string | undefined;
  readonly maxRequestBytes: number;
  readonly maxPolicyFileBytes: number;
  readonly maxPolicyBytes: number;
  readonly httpMaxConnections: number;
  readonly httpHeadersTimeoutMs: number;
  readonly httpRequestTimeoutMs: number;
  readonly httpKeepAliveTimeoutMs: number;
  readonly grpcMaxConcurrentStreams: number;
  readonly maxHealthWatches: number;
  readonly shutdownGraceMs: number;
  readonly resyncIntervalMs: number;
  readonly reloadStabilityWindowMs: number;
  readonly decisionCacheSize: number;
  readonly identityCacheSize: number;
  readonly maxCertificateSans: number;
  readonly logAllowed: boolean;
  readonly ui: boolean;
  readonly recentDecisions: number;
  readonly logLevel: LogLevel;
  readonly workers: number;
  readonly adminStateDir: string | undefined;
  readonly store: StoreLocation | undefined;
  readonly storePasswordFile: string | undefined;
  readonly storeConnectTimeoutMs: number;
  readonly tokenSigningKey: string | undefined;
  readonly maxTokenLifetimeMs: number;
  readonly tokenRevocationList: string | undefined;
  readonly adminLocalhostIsAdmin: boolean;
  readonly accessType: AccessType;
  readonly adminDefaultBinding: AdminDefaultBinding;
}

type Kind = 'string' | 'list' | 'boolean';

export interface FlagSpec {
  /** Without the leading dashes. */
  readonly flag: string;
  readonly env: string;
  readonly key: keyof Settings;
  readonly kind: Kind;
  /** The default as a user would type it; undefined when there is none. */
  readonly defaultText: string | undefined;
  readonly help: string;
  /** Text → value; throws BadValue. */
  readonly parse: (text: string) => unknown;
}

const envName = (flag: string): string => `MTP_AUTHZ_${flag.toUpperCase().replaceAll('-', '_')}`;

/** One row: `parse` turns one text (one item, for a list) into the value; it throws BadValue. */
function spec<K extends keyof Settings>(
  flag: string,
  key: K,
  row: {
    kind?: Kind;
    default?: string;
    help: string;
    parse: (text: string) => Settings[K] extends readonly (infer T)[] ? T : Settings[K];
  },
): FlagSpec {
  return {
    flag,
    env: envName(flag),
    key,
    kind: row.kind ?? 'string',
    defaultText: row.default,
    help: row.help,
    parse: row.parse,
  };
}

// ---------------------------------------------------------------------------------------------
// The table

export const FLAGS: readonly FlagSpec[] = [
  spec('policies', 'policies', {
    kind: 'list',
    parse: nonEmpty,
    help: 'Policy file or directory (read recursively: *.yaml, *.yml, *.json); repeatable. Env: a comma-separated list.',
  }),
  spec('grpc-address', 'grpcAddress', {
    default: '0.0.0.0:9191',
    parse: parseGrpcAddress,
    help: 'gRPC listen address (ext_authz Check and grpc.health.v1): HOST:PORT, or unix:///path.sock.',
  }),
  spec('http-address', 'httpAddress', {
    default: '0.0.0.0:9192',
    parse: parseTcpAddress,
    help: 'HTTP listen address (health, readiness, metrics, admin API): HOST:PORT.',
  }),
  spec('grpc-tls-cert', 'grpcTlsCert', {
    parse: nonEmpty,
    help: 'PEM certificate chain for a TLS gRPC listener.',
  }),
  spec('grpc-tls-key', 'grpcTlsKey', {
    parse: nonEmpty,
    help: 'PEM private key for a TLS gRPC listener.',
  }),
  spec('grpc-tls-client-ca', 'grpcTlsClientCa', {
    parse: nonEmpty,
    help: 'PEM CA bundle; when set, only clients with a certificate issued by it may call.',
  }),
  spec('max-request-bytes', 'maxRequestBytes', {
    default: '1MiB',
    parse: parseByteSize,
    help: 'Largest CheckRequest accepted; larger ones are refused (RESOURCE_EXHAUSTED).',
  }),
  spec('max-policy-file-bytes', 'maxPolicyFileBytes', {
    default: '4MiB',
    parse: parseByteSize,
    help: 'Largest policy file read; a larger file is a policy error.',
  }),
  spec('max-policy-bytes', 'maxPolicyBytes', {
    default: '64MiB',
    parse: parseByteSize,
    help: 'Largest policy set (all policy files together); a larger set fails to load like any invalid set.',
  }),
  spec('http-max-connections', 'httpMaxConnections', {
    default: '512',
    parse: (text) => integer(text, 1, 1_000_000),
    help: 'Open connections the HTTP port holds; more are closed at once. Never more than half the open-file limit, which keeps descriptors for gRPC.',
  }),
  spec('http-headers-timeout', 'httpHeadersTimeoutMs', {
    default: '10s',
    parse: durationAtLeast(100, '100ms'),
    help: 'Time an HTTP client has to send the request headers; then the connection is closed.',
  }),
  spec('http-request-timeout', 'httpRequestTimeoutMs', {
    default: '30s',
    parse: durationAtLeast(100, '100ms'),
    help: 'Time an HTTP client has to send a whole request (headers and body).',
  }),
  spec('http-keep-alive-timeout', 'httpKeepAliveTimeoutMs', {
    default: '5s',
    parse: durationAtLeast(100, '100ms'),
    help: 'How long an idle HTTP keep-alive connection stays open.',
  }),
  spec('grpc-max-concurrent-streams', 'grpcMaxConcurrentStreams', {
    default: '256',
    parse: (text) => integer(text, 1, 2_147_483_647),
    help: 'Concurrent calls per gRPC connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); Envoy opens another connection when it needs more.',
  }),
  spec('max-health-watches', 'maxHealthWatches', {
    default: '1000',
    parse: (text) => integer(text, 0, 1_000_000),
    help: 'Concurrent grpc.health.v1 Watch streams; more are refused with RESOURCE_EXHAUSTED.',
  }),
  spec('shutdown-grace', 'shutdownGraceMs', {
    default: '10s',
    parse: parseDuration,
    help: 'On SIGTERM/SIGINT, how long in-flight calls may take before they are cut.',
  }),
  spec('resync-interval', 'resyncIntervalMs', {
    default: '30s',
    parse: parseDuration,
    help: 'How often policy files are re-read even without a change notification (0s: never).',
  }),
  spec('reload-stability-window', 'reloadStabilityWindowMs', {
    default: '1s',
    parse: parseDuration,
    help: 'A changed policy file is read only once its size and times stayed the same this long (0s: at once).',
  }),
  spec('decision-cache-size', 'decisionCacheSize', {
    default: '100000',
    parse: (text) => integer(text, 0),
    help: 'Entries of the decision cache (0 disables it).',
  }),
  spec('identity-cache-size', 'identityCacheSize', {
    default: '10000',
    parse: (text) => integer(text, 0),
    help: 'Entries of the certificate → identity cache (0 disables it).',
  }),
  spec('max-certificate-sans', 'maxCertificateSans', {
    default: String(DEFAULT_MAX_URI_SANS),
    // The certificate walk refuses more than 1000 names of any kind whatever this says.
    parse: (text) => integer(text, 1, 1000),
    help: 'Most URI SANs a client certificate (or an explain SAN list) may carry; more is an invalid identity (Deny).',
  }),
  spec('log-allowed', 'logAllowed', {
    kind: 'boolean',
    default: 'false',
    parse: parseBoolean,
    help: 'Also write allowed requests to the decision log.',
  }),
  spec('ui', 'ui', {
    kind: 'boolean',
    default: 'true',
    parse: parseBoolean,
    help: 'Serve the read-only operator console at /ui/ on the HTTP port.',
  }),
  spec('recent-decisions', 'recentDecisions', {
    default: '200',
    parse: (text) => integer(text, 0, 100_000),
    help: 'Denies and shadow-denies kept in memory for GET /decisions/recent and the console (0: none).',
  }),
  spec('log-level', 'logLevel', {
    default: 'info',
    parse: choice(LOG_LEVELS),
    help: `Operational log level: ${LOG_LEVELS.join(', ')}.`,
  }),
  spec('workers', 'workers', {
    default: '1',
    parse: (text) => integer(text, 1, 256),
    help: 'Processes serving gRPC calls (node:cluster when above 1).',
  }),
  spec('admin-state-dir', 'adminStateDir', {
    parse: nonEmpty,
    help: 'Directory where the admin API stores resources; enables admin writes and is loaded as a policy path.',
  }),
  spec('store', 'store', {
    parse: storeUrl,
    help: 'Shared policy store for the admin API, seen by every replica: postgres://USER:PASSWORD@HOST:PORT/DATABASE, with ?sslmode=require, verify-ca or verify-full for TLS. Exclusive with --admin-state-dir.',
  }),
  spec('store-password-file', 'storePasswordFile', {
    parse: nonEmpty,
    help: 'File holding the --store password (trailing newline trimmed); replaces the password in the URL.',
  }),
  spec('store-connect-timeout', 'storeConnectTimeoutMs', {
    default: '60s',
    parse: parseDuration,
    help: 'How long start-up waits for the --store database, retrying with back-off, before it exits 1.',
  }),
  spec('token-signing-key', 'tokenSigningKey', {
    parse: nonEmpty,
    help: 'Key file for user tokens: a PEM Ed25519 private key, or a secret of at least 32 bytes (HS256).',
  }),
  spec('max-token-lifetime', 'maxTokenLifetimeMs', {
    default: '24h',
    parse: parseDuration,
    help: 'Longest validFor a user token may be issued with; longer requests are refused (400).',
  }),
  spec('token-revocation-list', 'tokenRevocationList', {
    parse: nonEmpty,
    help: 'File of revoked token ids (jti) or user names, one per line; reloaded like the policies.',
  }),
  spec('admin-localhost-is-admin', 'adminLocalhostIsAdmin', {
    kind: 'boolean',
    default: 'true',
    parse: parseBoolean,
    help: 'Treat token-less admin requests from loopback as user mesh-system:admin.',
  }),
  spec('access-type', 'accessType', {
    default: 'rbac',
    parse: choice(ACCESS_TYPES),
    help: 'Admin authorization: rbac (AccessRoles and bindings) or static (only group mesh-system:admin may write).',
  }),
  spec('admin-default-binding', 'adminDefaultBinding', {
    default: 'authenticated',
    parse: choice(ADMIN_DEFAULT_BINDINGS),
    help: 'Who the built-in AccessRoleBinding "default" makes admin: authenticated (token holders and the localhost admin) or kong-mesh (also unauthenticated callers, as Kong Mesh does).',
  }),
];

function storeUrl(text: string): StoreLocation {
  try {
    return parseStoreUrl(text);
  } catch (error) {
    if (error instanceof StoreUrlError) throw new BadValue(error.message);
    throw error;
  }
}
