/**
 * The JSON problem bodies of the admin API (SPEC §7), one builder per answer. Every body carries
 * `status`, `title` and `detail`; a 400 also carries `errors`, one string per violation.
 */
import { formatIssue } from '../policy/errors.js';
import type { PolicyIssue } from '../policy/types.js';
import type { User } from './users.js';

export interface Problem {
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  /** 400 only: every violation, each `FILE:LINE:COL: FIELD_PATH: MESSAGE` (SPEC §2.2). */
  readonly errors?: readonly string[];
}

/** Kuma's API server answers errors as plain JSON; clients (kumactl, curl | jq) expect that. */
export const PROBLEM_CONTENT_TYPE = 'application/json';

export const WRITES_DISABLED = 'admin writes are disabled: start with --admin-state-dir';
export const TOKENS_DISABLED = 'user tokens are disabled: start with --token-signing-key';

export function problem(status: number, title: string, detail: string): Problem {
  return { status, title, detail };
}

/**
 * 400 for a request that cannot be applied. `errors` is always present: the formatted violations
 * of a body that failed validation, empty for request-level problems (the detail says what).
 */
export function badRequest(detail: string, errors: readonly string[] = []): Problem {
  return { status: 400, title: 'Bad Request', detail, errors: [...errors] };
}

/** 400 for a body that fails validation: every violation, in the loader's order. */
export function invalidResource(issues: readonly PolicyIssue[]): Problem {
  const n = issues.length;
  return badRequest(
    `the resource is not valid: ${n} violation${n === 1 ? '' : 's'}`,
    issues.map(formatIssue),
  );
}

/** 400 when the body's `type`, `name` or `mesh` differs from the path. */
export function pathMismatch(field: 'type' | 'name' | 'mesh', inBody: unknown, inPath: string): Problem {
  return badRequest(
    `${field} ${JSON.stringify(inBody ?? null)} in the body does not match ${JSON.stringify(inPath)} in the path`,
  );
}

export function unauthenticated(): Problem {
  return problem(401, 'Unauthenticated', 'Invalid authentication data');
}

/** 403: `user "NAME/GROUP1,GROUP2" cannot access the resource` (groups in the user's order). */
export function accessDenied(user: User): Problem {
  return problem(
    403,
    'Access Denied',
    `user "${user.name}/${user.groups.join(',')}" cannot access the resource`,
  );
}

/** 404; `mesh` for mesh-scoped types. */
export function notFound(type: string, name: string, mesh?: string): Problem {
  const where = mesh === undefined ? '' : ` in mesh "${mesh}"`;
  return problem(404, 'Not Found', `${type} "${name}" not found${where}`);
}

/** 409: the resource comes from an operator's file and is read-only to the API. */
export function conflict(file: string): Problem {
  return problem(409, 'Conflict', `defined in ${file}`);
}

export function writesDisabled(): Problem {
  return problem(501, 'Not Implemented', WRITES_DISABLED);
}

export function tokensDisabled(): Problem {
  return problem(501, 'Not Implemented', TOKENS_DISABLED);
}

/** 503: the shared policy store (`--store`) cannot be reached; Checks go on from the last good set. */
export function storeUnavailable(reason: string): Problem {
  return problem(503, 'Service Unavailable', `policy store unavailable: ${reason}`);
}

/** A write that arrives (or is still queued) once SIGTERM/SIGINT began the drain. */
export function shuttingDown(): Problem {
  return problem(503, 'Service Unavailable', 'the service is shutting down; retry against another instance');
}
