import { describe, expect, it } from 'vitest';
import {
  FLAGS,
  readSettings,
  type Settings,
  settingsHelp,
  settingsMarkdownTable,
} from '../../src/settings/settings.js';

const BASE = ['--policies', 'p'];

function settings(argv: string[], env: NodeJS.ProcessEnv = {}): Settings {
  const result = readSettings(argv, env);
  if (result.kind !== 'settings') throw new Error(`expected settings, got ${JSON.stringify(result)}`);
  return result.settings;
}

function error(argv: string[], env: NodeJS.ProcessEnv = {}): string {
  const result = readSettings(argv, env);
  if (result.kind !== 'error') throw new Error(`expected an error, got ${JSON.stringify(result)}`);
  return result.message;
}

describe('token and reload flags', () => {
  it('refuses a --max-token-lifetime under one second', () => {
    expect(error([...BASE, '--max-token-lifetime', '500ms'])).toBe(
      '--max-token-lifetime must be at least 1s',
    );
  });

  it('reads --reload-stability-window and its env form', () => {
    expect(settings([...BASE, '--reload-stability-window', '2s']).reloadStabilityWindowMs).toBe(2000);
    expect(settings(BASE, { MTP_AUTHZ_RELOAD_STABILITY_WINDOW: '0s' }).reloadStabilityWindowMs).toBe(0);
  });
});

describe('defaults', () => {
  it('gives every flag its documented default', () => {
    expect(settings(BASE)).toEqual({
      policies: ['p'],
      grpcAddress: { kind: 'tcp', host: '0.0.0.0', port: 9191 },
      httpAddress: { host: '0.0.0.0', port: 9192 },
      grpcTlsCert: undefined,
      grpcTlsKey: undefined,
      grpcTlsClientCa: undefined,
      maxRequestBytes: 1024 * 1024,
      maxPolicyFileBytes: 4 * 1024 * 1024,
      maxPolicyBytes: 64 * 1024 * 1024,
      httpMaxConnections: 512,
      httpHeadersTimeoutMs: 10_000,
      httpRequestTimeoutMs: 30_000,
      httpKeepAliveTimeoutMs: 5_000,
      grpcMaxConcurrentStreams: 256,
      maxHealthWatches: 1000,
      shutdownGraceMs: 10_000,
      resyncIntervalMs: 30_000,
      reloadStabilityWindowMs: 1000,
      decisionCacheSize: 100_000,
      identityCacheSize: 10_000,
      maxCertificateSans: 256,
      logAllowed: false,
      ui: true,
      recentDecisions: 200,
      logLevel: 'info',
      workers: 1,
      adminStateDir: undefined,
      store: undefined,
      storePasswordFile: undefined,
      storeConnectTimeoutMs: 60_000,
      tokenSigningKey: undefined,
      maxTokenLifetimeMs: 24 * 3600 * 1000,
      tokenRevocationList: undefined,
      adminLocalhostIsAdmin: true,
      accessType: 'rbac',
      adminDefaultBinding: 'authenticated',
    });
  });

  it('is frozen', () => {
    const s = settings(BASE);
    expect(Object.isFrozen(s)).toBe(true);
    expect(Object.isFrozen(s.policies)).toBe(true);
  });

  it('has a row (flag, env, help) for every Settings field', () => {
    expect(FLAGS.map((f) => f.key).sort()).toEqual(Object.keys(settings(BASE)).sort());
    for (const flag of FLAGS) {
      expect(flag.env).toBe(`MTP_AUTHZ_${flag.flag.toUpperCase().replaceAll('-', '_')}`);
      expect(flag.help.length).toBeGreaterThan(10);
    }
  });
});

describe('env forms', () => {
  const cases: [string, string, Partial<Settings>][] = [
    [
      'MTP_AUTHZ_GRPC_ADDRESS',
      'unix:///run/authz.sock',
      { grpcAddress: { kind: 'unix', path: '/run/authz.sock' } },
    ],
    ['MTP_AUTHZ_HTTP_ADDRESS', '127.0.0.1:0', { httpAddress: { host: '127.0.0.1', port: 0 } }],
    ['MTP_AUTHZ_MAX_REQUEST_BYTES', '64KiB', { maxRequestBytes: 65_536 }],
    ['MTP_AUTHZ_MAX_POLICY_FILE_BYTES', '1000', { maxPolicyFileBytes: 1000 }],
    ['MTP_AUTHZ_MAX_POLICY_BYTES', '8MiB', { maxPolicyBytes: 8 * 1024 * 1024 }],
    ['MTP_AUTHZ_HTTP_MAX_CONNECTIONS', '64', { httpMaxConnections: 64 }],
    ['MTP_AUTHZ_HTTP_HEADERS_TIMEOUT', '2s', { httpHeadersTimeoutMs: 2000 }],
    ['MTP_AUTHZ_HTTP_REQUEST_TIMEOUT', '1m', { httpRequestTimeoutMs: 60_000 }],
    ['MTP_AUTHZ_HTTP_KEEP_ALIVE_TIMEOUT', '500ms', { httpKeepAliveTimeoutMs: 500 }],
    ['MTP_AUTHZ_GRPC_MAX_CONCURRENT_STREAMS', '100', { grpcMaxConcurrentStreams: 100 }],
    ['MTP_AUTHZ_MAX_HEALTH_WATCHES', '0', { maxHealthWatches: 0 }],
    ['MTP_AUTHZ_SHUTDOWN_GRACE', '500ms', { shutdownGraceMs: 500 }],
    ['MTP_AUTHZ_RESYNC_INTERVAL', '15m', { resyncIntervalMs: 900_000 }],
    ['MTP_AUTHZ_DECISION_CACHE_SIZE', '0', { decisionCacheSize: 0 }],
    ['MTP_AUTHZ_IDENTITY_CACHE_SIZE', '5', { identityCacheSize: 5 }],
    ['MTP_AUTHZ_MAX_CERTIFICATE_SANS', '64', { maxCertificateSans: 64 }],
    ['MTP_AUTHZ_LOG_ALLOWED', 'yes', { logAllowed: true }],
    ['MTP_AUTHZ_LOG_LEVEL', 'debug', { logLevel: 'debug' }],
    ['MTP_AUTHZ_WORKERS', '4', { workers: 4 }],
    ['MTP_AUTHZ_ADMIN_STATE_DIR', '/var/lib/authz', { adminStateDir: '/var/lib/authz' }],
    ['MTP_AUTHZ_TOKEN_SIGNING_KEY', 'key.pem', { tokenSigningKey: 'key.pem' }],
    ['MTP_AUTHZ_ADMIN_LOCALHOST_IS_ADMIN', 'no', { adminLocalhostIsAdmin: false }],
    ['MTP_AUTHZ_ACCESS_TYPE', 'static', { accessType: 'static' }],
  ];
  it.each(cases)('%s=%s', (name, value, expected) => {
    expect(settings(BASE, { [name]: value })).toMatchObject(expected);
  });

  it('reads MTP_AUTHZ_POLICIES as a comma list', () => {
    expect(settings([], { MTP_AUTHZ_POLICIES: 'a,b,,c' }).policies).toEqual(['a', 'b', 'c']);
  });

  it('reads the TLS files together', () => {
    const env = {
      MTP_AUTHZ_GRPC_TLS_CERT: 'c.pem',
      MTP_AUTHZ_GRPC_TLS_KEY: 'k.pem',
      MTP_AUTHZ_GRPC_TLS_CLIENT_CA: 'ca.pem',
    };
    expect(settings(BASE, env)).toMatchObject({
      grpcTlsCert: 'c.pem',
      grpcTlsKey: 'k.pem',
      grpcTlsClientCa: 'ca.pem',
    });
  });

  it('lets flags win over env', () => {
    const s = settings(['--policies', 'flag', '--log-level=warn', '--no-log-allowed'], {
      MTP_AUTHZ_POLICIES: 'env1,env2',
      MTP_AUTHZ_LOG_LEVEL: 'debug',
      MTP_AUTHZ_LOG_ALLOWED: 'true',
    });
    expect(s).toMatchObject({ policies: ['flag'], logLevel: 'warn', logAllowed: false });
  });

  it('treats an empty env value as unset', () => {
    expect(settings(BASE, { MTP_AUTHZ_LOG_LEVEL: '' }).logLevel).toBe('info');
  });

  it('accepts policies from env alone', () => {
    expect(settings([], { MTP_AUTHZ_POLICIES: 'only' }).policies).toEqual(['only']);
  });
});

describe('flags', () => {
  it('repeats --policies and takes both value forms', () => {
    expect(settings(['--policies', 'a', '--policies=b']).policies).toEqual(['a', 'b']);
  });

  it.each([
    [['--log-allowed'], true],
    [['--log-allowed=true'], true],
    [['--log-allowed=1'], true],
    [['--log-allowed=yes'], true],
    [['--log-allowed=false'], false],
    [['--log-allowed=0'], false],
    [['--log-allowed=no'], false],
    [['--no-log-allowed'], false],
    [['--log-allowed', '--no-log-allowed'], false],
  ])('booleans: %j → %s', (argv, expected) => {
    expect(settings([...BASE, ...argv]).logAllowed).toBe(expected);
  });

  it('reads --no-admin-localhost-is-admin', () => {
    expect(settings([...BASE, '--no-admin-localhost-is-admin']).adminLocalhostIsAdmin).toBe(false);
  });

  it('reads IPv6 and Unix addresses', () => {
    expect(settings([...BASE, '--grpc-address', '[::1]:0']).grpcAddress).toEqual({
      kind: 'tcp',
      host: '::1',
      port: 0,
    });
    expect(settings([...BASE, '--grpc-address', 'unix:relative.sock']).grpcAddress).toEqual({
      kind: 'unix',
      path: 'relative.sock',
    });
  });

  it('reads durations in every unit and combined', () => {
    const ms = (text: string) => settings([...BASE, '--shutdown-grace', text]).shutdownGraceMs;
    expect([ms('500ms'), ms('30s'), ms('15m'), ms('24h'), ms('1h30m'), ms('0s')]).toEqual([
      500, 30_000, 900_000, 86_400_000, 5_400_000, 0,
    ]);
  });

  it('answers --help with the help text', () => {
    const result = readSettings(['--help'], {});
    expect(result.kind).toBe('help');
    expect(result.kind === 'help' && result.text).toContain('--[no-]log-allowed  [MTP_AUTHZ_LOG_ALLOWED]');
  });
});

describe('bad usage', () => {
  it.each([
    [['--bogus'], 'unknown flag --bogus'],
    [['--no-log-level'], 'unknown flag --no-log-level'],
    [['serve'], 'unexpected argument "serve"'],
    [['--grpc-address'], 'flag --grpc-address needs a value'],
    [
      ['--max-request-bytes', 'lots'],
      '--max-request-bytes: invalid size "lots" (use bytes or a unit: 1048576, 512KiB, 1MiB)',
    ],
    [['--max-request-bytes', '0'], '--max-request-bytes: size out of range: "0"'],
    [['--shutdown-grace', '10'], '--shutdown-grace: invalid duration "10" (use e.g. 500ms, 30s, 15m, 24h)'],
    [
      ['--resync-interval', '-1s'],
      '--resync-interval: invalid duration "-1s" (use e.g. 500ms, 30s, 15m, 24h)',
    ],
    [['--log-allowed=maybe'], '--log-allowed: invalid boolean "maybe" (use true, 1, yes, false, 0 or no)'],
    [
      ['--log-level', 'loud'],
      '--log-level: invalid value "loud" (use one of fatal, error, warn, info, debug, trace, silent)',
    ],
    [['--access-type', 'open'], '--access-type: invalid value "open" (use one of rbac, static)'],
    [['--workers', '0'], '--workers: must be between 1 and 256, got 0'],
    [['--max-certificate-sans', '0'], '--max-certificate-sans: must be between 1 and 1000, got 0'],
    [['--max-certificate-sans', '1001'], '--max-certificate-sans: must be between 1 and 1000, got 1001'],
    [['--workers', '1.5'], '--workers: invalid number "1.5" (use a whole number)'],
    [['--decision-cache-size', '-1'], '--decision-cache-size: invalid number "-1" (use a whole number)'],
    [['--ui=off'], '--ui: invalid boolean "off" (use true, 1, yes, false, 0 or no)'],
    [['--recent-decisions', '100001'], '--recent-decisions: must be between 0 and 100000, got 100001'],
    [
      ['--grpc-address', '9191'],
      '--grpc-address: invalid address "9191" (use HOST:PORT, e.g. 0.0.0.0:9191 or [::]:9191)',
    ],
    [
      ['--http-address', 'unix:///x.sock'],
      '--http-address: invalid address "unix:///x.sock" (use HOST:PORT, e.g. 0.0.0.0:9191 or [::]:9191)',
    ],
    [
      ['--grpc-address', 'localhost:70000'],
      '--grpc-address: invalid port in "localhost:70000" (0-65535; 0 picks a free port)',
    ],
    [['--grpc-address', 'unix://'], '--grpc-address: invalid address "unix://" (use unix:///path/to.sock)'],
    [
      ['--max-policy-bytes', '64MB'],
      '--max-policy-bytes: invalid size "64MB" (use bytes or a unit: 1048576, 512KiB, 1MiB)',
    ],
    [['--http-max-connections', '0'], '--http-max-connections: must be between 1 and 1000000, got 0'],
    [['--http-headers-timeout', '0s'], '--http-headers-timeout: must be at least 100ms, got 0s'],
    [
      ['--http-request-timeout', '10'],
      '--http-request-timeout: invalid duration "10" (use e.g. 500ms, 30s, 15m, 24h)',
    ],
    [['--http-keep-alive-timeout', '50ms'], '--http-keep-alive-timeout: must be at least 100ms, got 50ms'],
    [
      ['--http-headers-timeout', '1m'],
      '--http-headers-timeout must not be longer than --http-request-timeout',
    ],
    [
      ['--grpc-max-concurrent-streams', '0'],
      '--grpc-max-concurrent-streams: must be between 1 and 2147483647, got 0',
    ],
    [['--max-health-watches', 'many'], '--max-health-watches: invalid number "many" (use a whole number)'],
    [['--policies='], '--policies: must not be empty'],
    [['--grpc-tls-cert', 'c.pem'], '--grpc-tls-cert and --grpc-tls-key must be given together'],
    [['--grpc-tls-client-ca', 'ca.pem'], '--grpc-tls-client-ca needs --grpc-tls-cert and --grpc-tls-key'],
  ])('%j → %s', (argv, message) => {
    expect(error([...(argv[0] === '--policies=' ? [] : BASE), ...argv])).toBe(message);
  });

  it('names the env variable of a bad env value', () => {
    expect(error(BASE, { MTP_AUTHZ_SHUTDOWN_GRACE: 'soon' })).toBe(
      'MTP_AUTHZ_SHUTDOWN_GRACE: invalid duration "soon" (use e.g. 500ms, 30s, 15m, 24h)',
    );
    expect(error(BASE, { MTP_AUTHZ_LOG_ALLOWED: 'on' })).toBe(
      'MTP_AUTHZ_LOG_ALLOWED: invalid boolean "on" (use true, 1, yes, false, 0 or no)',
    );
  });

  it('needs policies or an admin state directory', () => {
    expect(error([])).toBe('no policies: give --policies PATH (or --admin-state-dir DIR)');
    expect(settings(['--admin-state-dir', '/tmp/x']).policies).toEqual([]);
  });
});

describe('documentation', () => {
  it('lists every flag in the help screen and the README table', () => {
    const help = settingsHelp();
    const table = settingsMarkdownTable();
    for (const flag of FLAGS) {
      expect(help).toContain(flag.env);
      expect(table).toContain(`| \`--${flag.flag}\` | \`${flag.env}\` |`);
    }
  });
});

describe('--store', () => {
  it('reads the URL, its env form and the password file; waits 60s for the database by default', () => {
    const s = settings(['--store', 'postgres://app:pw@db:6432/policies?sslmode=require']);
    expect(s.store).toMatchObject({
      host: 'db',
      port: 6432,
      database: 'policies',
      user: 'app',
      sslMode: 'require',
    });
    expect(s.storeConnectTimeoutMs).toBe(60_000);
    const fromEnv = settings([], {
      MTP_AUTHZ_STORE: 'postgresql://app@db/policies',
      MTP_AUTHZ_STORE_PASSWORD_FILE: '/run/secrets/pg',
      MTP_AUTHZ_STORE_CONNECT_TIMEOUT: '5s',
    });
    expect([fromEnv.store?.redacted, fromEnv.storePasswordFile, fromEnv.storeConnectTimeoutMs]).toEqual([
      'postgresql://app@db:5432/policies',
      '/run/secrets/pg',
      5000,
    ]);
  });

  it('needs no --policies: the store may hold every resource', () => {
    expect(settings(['--store', 'postgres://app@db/p']).policies).toEqual([]);
  });

  it('refuses what cannot work together, naming the flags', () => {
    expect(error([...BASE, '--store', 'postgres://app@db/p', '--admin-state-dir', 'd'])).toBe(
      '--store and --admin-state-dir cannot be used together: the admin API keeps its resources in one place',
    );
    expect(error([...BASE, '--store-password-file', 'f'])).toBe('--store-password-file needs --store');
    expect(error([...BASE, '--store', 'redis://app@db/p'])).toBe(
      '--store: scheme "redis:" is not postgres:// or postgresql://',
    );
    expect(error([...BASE, '--store', 'postgres://app@db/p', '--store-connect-timeout', 'soon'])).toMatch(
      /^--store-connect-timeout: /,
    );
  });
});
