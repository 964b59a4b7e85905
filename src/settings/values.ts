/**
 * The value forms of `serve` flags: whole numbers, byte sizes, durations, booleans, choices and
 * listen addresses, each parser throwing BadValue with the words a user sees.
 */
export type GrpcListenAddress =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string };

export interface TcpAddress {
  readonly host: string;
  readonly port: number;
}

/** A value that failed to parse; the message names what was expected. */
export class BadValue extends Error {}

export const nonEmpty = (text: string): string => {
  if (text === '') throw new BadValue('must not be empty');
  return text;
};

export function integer(text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(text)) throw new BadValue(`invalid number "${text}" (use a whole number)`);
  const value = Number(text);
  if (value < min || value > max) throw new BadValue(`must be between ${min} and ${max}, got ${text}`);
  return value;
}

const SIZE_UNITS: Record<string, number> = { '': 1, B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

export function parseByteSize(text: string): number {
  const match = /^(\d+)(B|KiB|MiB|GiB)?$/.exec(text);
  if (match === null)
    throw new BadValue(`invalid size "${text}" (use bytes or a unit: 1048576, 512KiB, 1MiB)`);
  const value = Number(match[1]) * (SIZE_UNITS[match[2] ?? ''] ?? 1);
  if (value < 1 || !Number.isSafeInteger(value)) throw new BadValue(`size out of range: "${text}"`);
  return value;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `500ms`, `30s`, `15m`, `24h`, or a sequence such as `1h30m`; → milliseconds. */
export function parseDuration(text: string): number {
  if (!/^(\d+(ms|s|m|h))+$/.test(text)) {
    throw new BadValue(`invalid duration "${text}" (use e.g. 500ms, 30s, 15m, 24h)`);
  }
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+)(ms|s|m|h)/g)) {
    total += Number(amount) * (DURATION_UNITS[unit as string] ?? 0);
  }
  if (!Number.isSafeInteger(total)) throw new BadValue(`duration out of range: "${text}"`);
  return total;
}

/** A duration that must not be shorter than `minMs` (a zero timeout would mean "never"). */
export function durationAtLeast(minMs: number, minText: string): (text: string) => number {
  return (text) => {
    const value = parseDuration(text);
    if (value < minMs) throw new BadValue(`must be at least ${minText}, got ${text}`);
    return value;
  };
}

const TRUE_WORDS: ReadonlySet<string> = new Set(['true', '1', 'yes']);
const FALSE_WORDS: ReadonlySet<string> = new Set(['false', '0', 'no']);

export function parseBoolean(text: string): boolean {
  const word = text.toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  throw new BadValue(`invalid boolean "${text}" (use true, 1, yes, false, 0 or no)`);
}

export function choice<T extends string>(choices: readonly T[]): (text: string) => T {
  return (text) => {
    if (!(choices as readonly string[]).includes(text)) {
      throw new BadValue(`invalid value "${text}" (use one of ${choices.join(', ')})`);
    }
    return text as T;
  };
}

export function parseTcpAddress(text: string): TcpAddress {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d+)$/.exec(text);
  if (match === null)
    throw new BadValue(`invalid address "${text}" (use HOST:PORT, e.g. 0.0.0.0:9191 or [::]:9191)`);
  const port = Number(match[3]);
  if (port > 65535) throw new BadValue(`invalid port in "${text}" (0-65535; 0 picks a free port)`);
  return { host: match[1] ?? match[2] ?? '', port };
}

export function parseGrpcAddress(text: string): GrpcListenAddress {
  if (text.startsWith('unix:')) {
    const path = text.startsWith('unix://') ? text.slice('unix://'.length) : text.slice('unix:'.length);
    if (path === '') throw new BadValue(`invalid address "${text}" (use unix:///path/to.sock)`);
    return { kind: 'unix', path };
  }
  return { kind: 'tcp', ...parseTcpAddress(text) };
}
