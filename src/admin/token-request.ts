/** The body of `POST /tokens/user` (SPEC §7.2), read into a user and a lifetime, or the 400 why not. */
import { isPlainObject } from './body.js';
import { badRequest, type Problem } from './problems.js';
import {
  DEFAULT_MAX_TOKEN_LIFETIME_SECONDS,
  DEFAULT_VALID_FOR,
  lifetimeTooLong,
  parseDuration,
} from './tokens.js';

const TOKEN_FIELDS = ['name', 'groups', 'validFor'];

type TokenRequest =
  { ok: true; name: string; groups: string[]; validForSeconds: number } | { ok: false; problem: Problem };

/** `{"name": "...", "groups": ["..."], "validFor": "24h"}`; `groups` and `validFor` are optional. */
export function parseTokenRequest(
  value: unknown,
  maxLifetimeSeconds = DEFAULT_MAX_TOKEN_LIFETIME_SECONDS,
): TokenRequest {
  const fail = (detail: string): TokenRequest => ({ ok: false, problem: badRequest(detail) });
  if (!isPlainObject(value)) return fail('request body must be an object: {"name", "groups", "validFor"}');
  for (const key of Object.keys(value)) {
    if (!TOKEN_FIELDS.includes(key))
      return fail(`unknown field ${JSON.stringify(key)}: expected name, groups or validFor`);
  }
  const { name, groups = [], validFor = DEFAULT_VALID_FOR } = value;
  if (typeof name !== 'string' || name === '') return fail('name must be a non-empty string');
  if (!Array.isArray(groups) || !groups.every((g): g is string => typeof g === 'string' && g !== '')) {
    return fail('groups must be an array of non-empty strings');
  }
  if (typeof validFor !== 'string') return fail('validFor must be a duration such as 30s, 15m or 24h');
  let validForSeconds: number;
  try {
    validForSeconds = parseDuration(validFor);
  } catch (error) {
    return fail(`validFor: ${(error as Error).message}`);
  }
  const tooLong = lifetimeTooLong(validForSeconds, maxLifetimeSeconds);
  if (tooLong !== undefined) return fail(`validFor: ${tooLong}`);
  return { ok: true, name, groups, validForSeconds };
}
