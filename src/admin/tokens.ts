/**
 * User tokens (SPEC §7.2): JWTs carrying `name`, `groups`, `iat`, `exp` and a random `jti`, signed
 * with the key of `--token-signing-key` — a PEM Ed25519 private key (EdDSA) or a shared HS256
 * secret. Verification accepts only the key's own algorithm and no clock leeway; with a lifetime
 * limit, a token whose `exp - iat` exceeds it is refused too, and a revocation list can refuse a
 * token by its id or its user.
 */
import { createPrivateKey, createPublicKey, type KeyObject, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import type { TokenResult, TokenVerifier } from './users.js';

export type SigningKey =
  | { readonly alg: 'EdDSA'; readonly privateKey: KeyObject; readonly publicKey: KeyObject }
  | { readonly alg: 'HS256'; readonly secret: Uint8Array };

export type { TokenResult, TokenVerifier } from './users.js';

export const MIN_HS256_SECRET_BYTES = 32;
export const DEFAULT_VALID_FOR = '24h';
/** `--max-token-lifetime`'s default, in seconds. */
export const DEFAULT_MAX_TOKEN_LIFETIME_SECONDS = 24 * 3600;

/** Why a requested validity is refused (the admin API answers it as 400, `token` exits 2). */
export function lifetimeTooLong(validForSeconds: number, maxSeconds: number): string | undefined {
  if (validForSeconds <= maxSeconds) return undefined;
  return `${formatSeconds(validForSeconds)} is longer than the maximum token lifetime of ${formatSeconds(maxSeconds)} (--max-token-lifetime)`;
}

/** 86400 → `24h`, 5400 → `1h30m`, 90 → `1m30s`. */
export function formatSeconds(total: number): string {
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const text = `${h > 0 ? `${h}h` : ''}${m > 0 ? `${m}m` : ''}${s > 0 ? `${s}s` : ''}`;
  return text === '' ? '0s' : text;
}

/** A signing key file that cannot be used; the message names the file and what is wrong. */
export class SigningKeyError extends Error {
  override readonly name = 'SigningKeyError';
}

/**
 * A file holding a PEM block must be an Ed25519 private key: any other PEM (an RSA key, a
 * public key) is refused rather than used as an HMAC secret. Anything else is an HS256 secret.
 */
export async function loadSigningKey(file: string): Promise<SigningKey> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new SigningKeyError(`token signing key ${file}: cannot read: ${(err as Error).message}`);
  }
  return signingKeyFromBytes(file, bytes);
}

export function signingKeyFromBytes(file: string, bytes: Uint8Array): SigningKey {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.includes('-----BEGIN')) {
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey({ key: buf, format: 'pem' });
    } catch {
      throw new SigningKeyError(
        `token signing key ${file}: not a PEM private key (an Ed25519 one is expected)`,
      );
    }
    if (privateKey.asymmetricKeyType !== 'ed25519') {
      throw new SigningKeyError(
        `token signing key ${file}: a PEM key must be an Ed25519 private key, not ${privateKey.asymmetricKeyType ?? 'this key type'}`,
      );
    }
    return { alg: 'EdDSA', privateKey, publicKey: createPublicKey(privateKey) };
  }
  let end = buf.length;
  while (end > 0 && isWhitespace(buf[end - 1])) end--;
  if (end < MIN_HS256_SECRET_BYTES) {
    throw new SigningKeyError(
      `token signing key ${file}: an HS256 secret must be at least ${MIN_HS256_SECRET_BYTES} bytes, found ${end} (trailing whitespace trimmed); or use a PEM Ed25519 private key`,
    );
  }
  return { alg: 'HS256', secret: Uint8Array.from(buf.subarray(0, end)) };
}

function isWhitespace(byte: number | undefined): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d || byte === 0x0b || byte === 0x0c;
}

export interface TokenClaims {
  readonly name: string;
  readonly groups: readonly string[];
  readonly validForSeconds: number;
}

/** Signs a token for `name`; `now` (ms since the epoch) is for tests. */
export async function issueToken(
  key: SigningKey,
  claims: TokenClaims,
  now: number = Date.now(),
): Promise<string> {
  if (claims.name === '') throw new Error('a user token needs a non-empty name');
  if (!Number.isSafeInteger(claims.validForSeconds) || claims.validForSeconds <= 0) {
    throw new Error('a user token needs a positive whole number of seconds of validity');
  }
  const iat = Math.floor(now / 1000);
  return new SignJWT({ name: claims.name, groups: [...claims.groups] })
    .setProtectedHeader({ alg: key.alg, typ: 'JWT' })
    .setJti(randomUUID())
    .setIssuedAt(iat)
    .setExpirationTime(iat + claims.validForSeconds)
    .sign(key.alg === 'EdDSA' ? key.privateKey : key.secret);
}

export interface VerifyOptions {
  /** Refuse tokens issued for longer than this (`exp - iat`, seconds). */
  readonly maxLifetimeSeconds?: number;
  /** True when the token's id or user is revoked (`--token-revocation-list`). */
  readonly isRevoked?: (jti: string | undefined, name: string) => boolean;
}

/** Verifies signature, algorithm, expiry and claims; `now` is for tests. */
export async function verifyToken(
  key: SigningKey,
  token: string,
  now?: Date,
  options: VerifyOptions = {},
): Promise<TokenResult> {
  try {
    const { payload } = await jwtVerify(token, key.alg === 'EdDSA' ? key.publicKey : key.secret, {
      algorithms: [key.alg],
      requiredClaims: ['iat', 'exp'],
      ...(now === undefined ? {} : { currentDate: now }),
    });
    const { name, groups, jti, iat, exp } = payload;
    if (typeof name !== 'string' || name === '')
      return { ok: false, reason: 'missing or empty "name" claim' };
    if (!Array.isArray(groups) || !groups.every((g): g is string => typeof g === 'string')) {
      return { ok: false, reason: '"groups" claim is not an array of strings' };
    }
    const max = options.maxLifetimeSeconds;
    if (max !== undefined && (iat === undefined || exp === undefined || exp - iat > max))
      return { ok: false, reason: 'token lifetime exceeds --max-token-lifetime' };
    if (options.isRevoked?.(typeof jti === 'string' ? jti : undefined, name) === true)
      return { ok: false, reason: 'token revoked' };
    return { ok: true, user: { name, groups } };
  } catch (err) {
    if (err instanceof joseErrors.JOSEError) return { ok: false, reason: `${err.code}: ${err.message}` };
    return { ok: false, reason: (err as Error).message };
  }
}

export function tokenVerifier(key: SigningKey, options: VerifyOptions = {}): TokenVerifier {
  return (token) => verifyToken(key, token, undefined, options);
}

const DURATION = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/** `30s`, `15m`, `24h`, `1h30m` → seconds. */
export function parseDuration(text: string): number {
  const m = DURATION.exec(text);
  const seconds =
    m === null || text === ''
      ? Number.NaN
      : Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
  if (!Number.isSafeInteger(seconds) || seconds <= 0) {
    throw new Error(
      `invalid duration "${text}": expected a positive duration such as 30s, 15m, 24h or 1h30m`,
    );
  }
  return seconds;
}
