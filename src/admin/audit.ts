/**
 * The audit trail (SPEC §7.4): one JSON line on stdout per write attempt, whatever its outcome.
 * Every line has every key, in the same order; `mesh` is null for global resources and tokens,
 * `user` is null (and `groups` empty) when authentication failed.
 */
import type { AccessKind } from '../policy/types.js';
import { stdoutDestination } from '../observability/stdout.js';
import type { User } from './users.js';

export type AuditResult = 'allowed' | 'denied' | 'invalid' | 'conflict' | 'unauthenticated';

export interface AuditEvent {
  /** Undefined when the caller could not be authenticated (401). */
  readonly user: User | undefined;
  readonly verb: AccessKind;
  readonly type: string;
  readonly mesh?: string;
  /** The resource name; for GENERATE_USER_TOKEN the name the token is for. */
  readonly name?: string;
  readonly status: number;
  /** Defaults to `auditResult(status)`. */
  readonly result?: AuditResult;
}

export interface AuditLine {
  readonly audit: true;
  readonly time: string;
  readonly user: string | null;
  readonly groups: readonly string[];
  readonly verb: AccessKind;
  readonly type: string;
  readonly mesh: string | null;
  readonly name: string | null;
  readonly result: AuditResult;
  readonly status: number;
}

/**
 * How far the attempt got, read from its status: 401 unauthenticated, 403 denied, 409 conflict,
 * every other 4xx and 501 (writes disabled) invalid, anything else allowed — a 500 after
 * authorization is "allowed" with status 500.
 */
export function auditResult(status: number): AuditResult {
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'denied';
  if (status === 409) return 'conflict';
  if ((status >= 400 && status < 500) || status === 501) return 'invalid';
  return 'allowed';
}

export type AuditWriter = (line: string) => void;

/** stdout through its bounded asynchronous destination: a stalled reader never blocks a write. */
const stdoutWriter: AuditWriter = (line) => {
  stdoutDestination().write(line);
};

export type AuditLog = (event: AuditEvent) => AuditLine;

/** `write` receives each line with its trailing newline; `now` is for tests. */
export function createAuditLog(
  write: AuditWriter = stdoutWriter,
  now: () => Date = () => new Date(),
): AuditLog {
  return (event) => {
    const line: AuditLine = {
      audit: true,
      time: now().toISOString(),
      user: event.user?.name ?? null,
      groups: event.user === undefined ? [] : [...event.user.groups],
      verb: event.verb,
      type: event.type,
      mesh: event.mesh ?? null,
      name: event.name ?? null,
      result: event.result ?? auditResult(event.status),
      status: event.status,
    };
    write(`${JSON.stringify(line)}\n`);
    return line;
  };
}
