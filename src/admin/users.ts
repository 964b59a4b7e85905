/**
 * Who is calling (SPEC §7.2): a verified bearer token's user, the localhost admin, or the
 * anonymous user. A token is always its user; a bad or unverifiable one is never anonymous.
 */
import { isIPv4, isIPv6 } from 'node:net';
import {
  ADMIN_GROUP,
  ADMIN_USER,
  ANONYMOUS_USER,
  AUTHENTICATED_GROUP,
  UNAUTHENTICATED_GROUP,
} from './builtins.js';

export interface User {
  readonly name: string;
  readonly groups: readonly string[];
}

export type TokenResult = { ok: true; user: User } | { ok: false; reason: string };

/** What authentication needs: a bearer token in, a user (or why not) out. */
export type TokenVerifier = (token: string) => Promise<TokenResult>;

export type Headers = Readonly<Record<string, string | string[] | undefined>>;

export interface AuthenticationRequest {
  /** The Authorization header; read from `headers` when not given. */
  readonly authorization?: string;
  /** The TCP peer (`socket.remoteAddress`). */
  readonly remoteAddress?: string;
  /** Node's lower-cased request headers (HTTP/2 `:authority` counts as Host). */
  readonly headers: Headers;
}

export interface AuthenticationOptions {
  /** Absent when no `--token-signing-key` is configured: every token is then refused. */
  readonly verifier?: TokenVerifier;
  /** `--admin-localhost-is-admin`. */
  readonly localhostIsAdmin: boolean;
}

export type Authentication = { ok: true; user: User } | { ok: false; reason: string };

export const ANONYMOUS: User = Object.freeze({
  name: ANONYMOUS_USER,
  groups: Object.freeze([UNAUTHENTICATED_GROUP]),
});
/**
 * Also authenticated, as in Kuma: the built-in `default` binding then grants the local admin
 * writes on a fresh install, and restricting `default` to `mesh-system:admin` keeps them.
 */
export const LOCALHOST_ADMIN: User = Object.freeze({
  name: ADMIN_USER,
  groups: Object.freeze([ADMIN_GROUP, AUTHENTICATED_GROUP]),
});

/** Headers a proxy adds: their presence means the peer address is not the real client. */
const PROXY_HEADERS = ['forwarded', 'x-forwarded-for', 'x-real-ip'] as const;
const BEARER = /^Bearer +(\S+) *$/i;

/** `{ok: false}` is a 401; `reason` is for the operational log, never for the client. */
export async function authenticate(
  req: AuthenticationRequest,
  options: AuthenticationOptions,
): Promise<Authentication> {
  const authorization = req.authorization ?? header(req.headers, 'authorization');
  if (authorization === undefined) {
    return { ok: true, user: options.localhostIsAdmin && isLocalAdmin(req) ? LOCALHOST_ADMIN : ANONYMOUS };
  }
  if (Array.isArray(authorization)) return { ok: false, reason: 'several Authorization headers' };
  const token = BEARER.exec(authorization)?.[1];
  if (token === undefined) return { ok: false, reason: 'Authorization is not a Bearer token' };
  if (options.verifier === undefined)
    return { ok: false, reason: 'no --token-signing-key to verify tokens with' };
  const result = await options.verifier(token);
  if (!result.ok) return result;
  return { ok: true, user: { name: result.user.name, groups: [...result.user.groups, AUTHENTICATED_GROUP] } };
}

/** Loopback peer, no proxy header, and a loopback Host (and Origin, if any). */
function isLocalAdmin(req: AuthenticationRequest): boolean {
  if (req.remoteAddress === undefined || !isLoopbackAddress(req.remoteAddress)) return false;
  if (PROXY_HEADERS.some((h) => header(req.headers, h) !== undefined)) return false;
  const host = header(req.headers, 'host') ?? header(req.headers, ':authority');
  if (typeof host !== 'string' || !isLoopbackHost(host)) return false;
  const origin = header(req.headers, 'origin');
  if (origin === undefined) return true;
  return typeof origin === 'string' && isLoopbackOrigin(origin);
}

function header(headers: Headers, name: string): string | string[] | undefined {
  const direct = headers[name];
  if (direct !== undefined) return direct;
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
  return undefined;
}

/** 127.0.0.0/8, ::1 and IPv4-mapped 127.0.0.0/8. */
export function isLoopbackAddress(address: string): boolean {
  if (isIPv4(address)) return address.startsWith('127.');
  if (!isIPv6(address)) return false;
  const lower = address.toLowerCase();
  if (lower === '::1' || lower === '0:0:0:0:0:0:0:1') return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower)?.[1];
  return mapped !== undefined && isIPv4(mapped) && mapped.startsWith('127.');
}

/** `localhost`, `127.x.x.x` or `[::1]`, each with an optional port. */
export function isLoopbackHost(host: string): boolean {
  const m = /^(\[[^\]]*\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(host);
  if (m === null || m[1] === undefined) return false;
  if (m[2] !== undefined && Number(m[2]) > 65535) return false;
  const name = m[1].toLowerCase();
  return name === 'localhost' || name === '[::1]' || (isIPv4(name) && name.startsWith('127.'));
}

function isLoopbackOrigin(origin: string): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  return isLoopbackHost(url.host);
}
