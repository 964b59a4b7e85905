/**
 * Every `serve` flag, read once into one typed, validated, frozen Settings object. Each flag is a
 * row of FLAGS: its name, env form (`MTP_AUTHZ_<FLAG_IN_SNAKE_CAPS>`), default and help text, so
 * the help screen and the README table are generated from the same place. Flags win over env.
 */
import { DEFAULT_MAX_URI_SANS } from '../decision/identity.js';
import { LOG_LEVELS, type LogLevel } from '../observability/log.js';
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

const BY_FLAG: ReadonlyMap<string, FlagSpec> = new Map(FLAGS.map((s) => [s.flag, s]));

// ---------------------------------------------------------------------------------------------
// Reading argv + env

export type SettingsResult =
  | { readonly kind: 'settings'; readonly settings: Settings }
  | { readonly kind: 'help'; readonly text: string }
  | { readonly kind: 'error'; readonly message: string };

type Raw = Map<FlagSpec, string[]>;

function readArgv(argv: readonly string[]): Raw | 'help' {
  const raw: Raw = new Map();
  const set = (s: FlagSpec, value: string): void => {
    if (s.kind === 'list') raw.set(s, [...(raw.get(s) ?? []), value]);
    else raw.set(s, [value]);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') return 'help';
    if (!arg.startsWith('--') || arg === '--') throw new BadValue(`unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const inline = eq < 0 ? undefined : arg.slice(eq + 1);
    const s = BY_FLAG.get(name);
    if (s === undefined) {
      const negated = name.startsWith('no-') ? BY_FLAG.get(name.slice(3)) : undefined;
      if (negated?.kind === 'boolean' && inline === undefined) {
        set(negated, 'false');
        continue;
      }
      throw new BadValue(`unknown flag --${name}`);
    }
    if (s.kind === 'boolean') {
      set(s, inline ?? 'true');
      continue;
    }
    if (inline !== undefined) {
      set(s, inline);
      continue;
    }
    const next = argv[i + 1];
    if (next === undefined) throw new BadValue(`flag --${name} needs a value`);
    set(s, next);
    i++;
  }
  return raw;
}

function parseTexts(s: FlagSpec, texts: readonly string[], source: string): unknown {
  try {
    return s.kind === 'list' ? texts.map((t) => s.parse(t)) : s.parse(texts[texts.length - 1] as string);
  } catch (error) {
    if (error instanceof BadValue) throw new BadValue(`${source}: ${error.message}`);
    throw error;
  }
}

function crossCheck(settings: Settings): void {
  if ((settings.grpcTlsCert === undefined) !== (settings.grpcTlsKey === undefined)) {
    throw new BadValue('--grpc-tls-cert and --grpc-tls-key must be given together');
  }
  if (settings.grpcTlsClientCa !== undefined && settings.grpcTlsCert === undefined) {
    throw new BadValue('--grpc-tls-client-ca needs --grpc-tls-cert and --grpc-tls-key');
  }
  if (settings.httpHeadersTimeoutMs > settings.httpRequestTimeoutMs) {
    throw new BadValue('--http-headers-timeout must not be longer than --http-request-timeout');
  }
  if (settings.maxTokenLifetimeMs < 1000) throw new BadValue('--max-token-lifetime must be at least 1s');
  if (settings.policies.length === 0 && settings.adminStateDir === undefined) {
    throw new BadValue('no policies: give --policies PATH (or --admin-state-dir DIR)');
  }
}

/** Reads the serve flags from argv, then env for every flag argv did not give. */
export function readSettings(argv: readonly string[], env: NodeJS.ProcessEnv): SettingsResult {
  try {
    const raw = readArgv(argv);
    if (raw === 'help') return { kind: 'help', text: settingsHelp() };
    const values: Record<string, unknown> = {};
    for (const s of FLAGS) {
      const fromArgv = raw.get(s);
      const fromEnv = env[s.env];
      if (fromArgv !== undefined) values[s.key] = parseTexts(s, fromArgv, `--${s.flag}`);
      else if (fromEnv !== undefined && fromEnv !== '') {
        const texts = s.kind === 'list' ? fromEnv.split(',').filter((t) => t !== '') : [fromEnv];
        values[s.key] = parseTexts(s, texts, s.env);
      } else if (s.defaultText !== undefined) values[s.key] = parseTexts(s, [s.defaultText], `--${s.flag}`);
      else values[s.key] = s.kind === 'list' ? [] : undefined;
    }
    const settings = values as unknown as Settings;
    crossCheck(settings);
    Object.freeze(settings.policies);
    return { kind: 'settings', settings: Object.freeze(settings) };
  } catch (error) {
    if (error instanceof BadValue) return { kind: 'error', message: error.message };
    throw error;
  }
}

function flagLabel(s: FlagSpec): string {
  if (s.kind === 'boolean') return `--[no-]${s.flag}`;
  return `--${s.flag} ${s.key === 'policies' ? 'PATH' : 'VALUE'}`;
}

/** The `serve --help` screen. */
export function settingsHelp(): string {
  const lines = ['Usage: mtp-authz serve [flags]', '', 'Flags (env form in brackets; flags win over env):'];
  for (const s of FLAGS) {
    const def = s.defaultText === undefined ? '' : ` (default ${s.defaultText})`;
    lines.push(`  ${flagLabel(s)}  [${s.env}]`, `      ${s.help}${def}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The README's flag table, in Markdown. */
export function settingsMarkdownTable(): string {
  const rows = FLAGS.map(
    (s) =>
      `| \`--${s.flag}\` | \`${s.env}\` | ${s.defaultText === undefined ? '—' : `\`${s.defaultText}\``} | ${s.help} |`,
  );
  return ['| flag | env | default | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
