/**
 * SPIFFE ID syntax (the SPIFFE-ID standard, §2), checked the way Kuma's admission does before it
 * accepts a `spiffeID` match: the reasons are the ones Kuma prints after "must be a valid Spiffe ID: ".
 */

const SCHEME = 'spiffe://';

const isTrustDomainChar = (c: string): boolean =>
  (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c === '-' || c === '.' || c === '_';

const isPathChar = (c: string): boolean => isTrustDomainChar(c) || (c >= 'A' && c <= 'Z');

/** Why `id` is not a SPIFFE ID, or undefined when it is one. */
export function spiffeIdProblem(id: string): string | undefined {
  if (id === '') return 'cannot be empty';
  if (!id.startsWith(SCHEME)) return 'scheme is missing or invalid';
  let i = SCHEME.length;
  for (; i < id.length && id[i] !== '/'; i++) {
    if (!isTrustDomainChar(id[i] as string)) {
      return 'trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores';
    }
  }
  if (i === SCHEME.length) return 'trust domain is missing';
  return pathProblem(id.slice(i));
}

/** The path part: empty, or `/segment` repeated, each segment non-empty, not `.` or `..`. */
function pathProblem(path: string): string | undefined {
  if (path === '') return undefined;
  const segments = path.slice(1).split('/');
  for (let s = 0; s < segments.length; s++) {
    const segment = segments[s] as string;
    const last = s === segments.length - 1;
    for (const c of segment) {
      if (!isPathChar(c)) {
        return 'path segment characters are limited to letters, numbers, dots, dashes, and underscores';
      }
    }
    if (segment === '')
      return last ? 'path cannot have a trailing slash' : 'path cannot contain empty segments';
    if (segment === '.' || segment === '..') return 'path cannot contain dot segments';
  }
  return undefined;
}
