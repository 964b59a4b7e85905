/**
 * The process's open-file limit, and the share of it the HTTP port may hold. Every connection is
 * a descriptor: were the HTTP port allowed to take them all (a slowloris of half-open requests),
 * new gRPC connections — Envoys reconnecting or scaling out — would fail to be accepted. The HTTP
 * port is therefore never given more than half of the soft RLIMIT_NOFILE; the rest stays for gRPC
 * connections, policy files, watches and the process itself.
 */
import { readFileSync } from 'node:fs';

const LIMITS_FILE = '/proc/self/limits';

/** The soft "Max open files" of `/proc/self/limits` text; undefined when absent or unlimited. */
export function parseSoftOpenFileLimit(limitsText: string): number | undefined {
  const line = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limitsText);
  if (line === null || !/^\d+$/.test(line[1] ?? '')) return undefined;
  const value = Number(line[1]);
  return Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

/** This process's soft open-file limit (Linux); undefined where it cannot be read. */
export function softOpenFileLimit(): number | undefined {
  try {
    return parseSoftOpenFileLimit(readFileSync(LIMITS_FILE, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The HTTP port's connection cap: what was asked for, but at most half of the soft limit. */
export function httpConnectionCap(requested: number, softLimit: number | undefined): number {
  if (softLimit === undefined) return requested;
  return Math.max(1, Math.min(requested, Math.floor(softLimit / 2)));
}
