/**
 * `--store postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=…`: the URL read into what the
 * PostgreSQL client needs. A mistake is a one-line message that never repeats the URL (it may hold
 * a password); the password file (`--store-password-file`) replaces the URL's password.
 */
import { readFileSync } from 'node:fs';
import type { ClientConfig } from 'pg';

export const SSL_MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** A parsed `--store` URL; `redacted` is the URL without its password, for logs. */
export interface StoreLocation {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password: string | undefined;
  readonly sslMode: SslMode;
  /** `sslrootcert=FILE`: the CA bundle that verify-ca and verify-full check the server against. */
  readonly sslRootCert: string | undefined;
  readonly redacted: string;
}

/** Thrown for a URL that cannot name a PostgreSQL database; the message says what is wrong. */
export class StoreUrlError extends Error {
  override readonly name = 'StoreUrlError';
}

const FORM = 'postgres://USER:PASSWORD@HOST:PORT/DATABASE';
const PARAMETERS = new Set(['sslmode', 'sslrootcert']);
const DEFAULT_PORT = 5432;

export function parseStoreUrl(text: string): StoreLocation {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new StoreUrlError(`not a URL of the form ${FORM}`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')
    throw new StoreUrlError(
      `scheme ${JSON.stringify(url.protocol.slice(0, 32))} is not postgres:// or postgresql://`,
    );
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (host === '') throw new StoreUrlError(`no host: expected ${FORM}`);
  const user = decode(url.username, 'user');
  if (user === '') throw new StoreUrlError(`no user: expected ${FORM}`);
  const database = decode(url.pathname.replace(/^\//, ''), 'database');
  if (database === '' || database.includes('/')) throw new StoreUrlError(`no database: expected ${FORM}`);
  if (url.hash !== '') throw new StoreUrlError('a fragment (#…) has no meaning here');
  for (const key of url.searchParams.keys()) {
    if (!PARAMETERS.has(key))
      throw new StoreUrlError(
        `unknown parameter ${JSON.stringify(key.slice(0, 32))} (sslmode and sslrootcert are read)`,
      );
  }
  const sslMode = url.searchParams.get('sslmode') ?? 'disable';
  if (!(SSL_MODES as readonly string[]).includes(sslMode))
    throw new StoreUrlError(`sslmode must be one of ${SSL_MODES.join(', ')}`);
  const sslRootCert = url.searchParams.get('sslrootcert') ?? undefined;
  if (sslRootCert === '') throw new StoreUrlError('sslrootcert names no file');
  const password = url.password === '' ? undefined : decode(url.password, 'password');
  const port = url.port === '' ? DEFAULT_PORT : Number(url.port);
  const hostPart = host.includes(':') ? `[${host}]` : host;
  const query = url.search;
  return {
    host,
    port,
    database,
    user,
    password,
    sslMode: sslMode as SslMode,
    sslRootCert,
    redacted: `${url.protocol}//${encodeURIComponent(user)}@${hostPart}:${port}/${encodeURIComponent(database)}${query}`,
  };
}

function decode(part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new StoreUrlError(`the ${what} is not valid percent-encoding`);
  }
}

/** The password file's contents, trailing newline trimmed; throws with the file's name when unreadable or empty. */
export function readPasswordFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new StoreUrlError(
      `--store-password-file ${file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  const password = text.replace(/\r?\n$/, '');
  if (password === '') throw new StoreUrlError(`--store-password-file ${file}: is empty`);
  return password;
}

/** What `pg` connects with; the password file, when given, wins over the URL's password. */
export function clientConfig(location: StoreLocation, passwordFile: string | undefined): ClientConfig {
  const password = passwordFile === undefined ? location.password : readPasswordFile(passwordFile);
  return {
    host: location.host,
    port: location.port,
    database: location.database,
    user: location.user,
    ...(password === undefined ? {} : { password }),
    ssl: sslOptions(location),
    application_name: 'mtp-authz',
    keepAlive: true,
  };
}

function sslOptions(location: StoreLocation): ClientConfig['ssl'] {
  if (location.sslMode === 'disable') return false;
  if (location.sslMode === 'require') return { rejectUnauthorized: false };
  const ca = location.sslRootCert === undefined ? undefined : readRootCert(location.sslRootCert);
  const verify = { rejectUnauthorized: true, ...(ca === undefined ? {} : { ca }) };
  // verify-ca checks the chain only; verify-full also the host name (TLS's default).
  return location.sslMode === 'verify-ca' ? { ...verify, checkServerIdentity: () => undefined } : verify;
}

function readRootCert(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new StoreUrlError(
      `--store sslrootcert ${file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
}
