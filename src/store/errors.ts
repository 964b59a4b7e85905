/**
 * Database errors read for what a user needs: one short reason (never the URL or a password),
 * and whether it means the database is out of reach (503) rather than a fault here (500).
 */

/** SQLSTATE classes and codes that mean "cannot talk to the database now" (57014: a statement timed out). */
const UNREACHABLE_STATES = /^(08|53|57P0|57014|58)/;
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);
const MAX_REASON_LENGTH = 200;

export function reasonOf(error: unknown): string {
  const first =
    error instanceof AggregateError && error.errors.length > 0 ? (error.errors[0] as unknown) : error;
  const message = first instanceof Error ? first.message : String(first);
  const code = (first as { code?: unknown } | undefined)?.code;
  const text = message !== '' ? message : typeof code === 'string' ? code : 'unknown error';
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > MAX_REASON_LENGTH ? `${line.slice(0, MAX_REASON_LENGTH)}…` : line;
}

export function isUnreachable(error: unknown): boolean {
  const first =
    error instanceof AggregateError && error.errors.length > 0 ? (error.errors[0] as unknown) : error;
  const code = (first as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return UNREACHABLE_STATES.test(code) || NETWORK_CODES.has(code);
  // pg's own: a connection that ended, a timeout, a client that cannot be used any more.
  const message = first instanceof Error ? first.message : '';
  return /timeout|terminated|Connection terminated|not queryable|closed|ended/i.test(message);
}
