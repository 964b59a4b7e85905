/**
 * The console's only way to the service: same-origin JSON reads and POST /explain. Paths are
 * relative to /ui/, so the console also works behind a proxy that mounts the service elsewhere.
 */

export interface Problem {
  readonly status: number;
  readonly title?: string;
  readonly detail?: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function answer<T>(response: Response): Promise<T> {
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ApiError(response.status, `HTTP ${response.status}: the answer is not JSON`);
  }
  if (!response.ok) {
    const problem = body as Partial<Problem>;
    throw new ApiError(
      response.status,
      `HTTP ${response.status}: ${problem.detail ?? problem.title ?? 'failed'}`,
    );
  }
  return body as T;
}

const url = (path: string): string => new URL(`../${path}`, window.location.href).toString();

export async function getJson<T>(path: string): Promise<T> {
  return answer<T>(await fetch(url(path), { headers: { accept: 'application/json' }, cache: 'no-store' }));
}

export async function postJson<T>(path: string, body: unknown): Promise<T> {
  return answer<T>(
    await fetch(url(path), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
    }),
  );
}

// --- The JSON shapes (see README "Operator console"); extra fields are tolerated everywhere. ---

export interface PolicyListing {
  readonly generation: number;
  readonly loadedAt: string;
  readonly stale: boolean;
  readonly policies: readonly { type: string; mesh: string | null; name: string; file: string }[];
}

export interface OrderedPolicy {
  readonly name: string;
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly origin: string | null;
  readonly kind: string | null;
}

export interface OrderedEntry {
  readonly index: number;
  readonly policy: string;
  readonly fromIndex: number;
  readonly action: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly unreachable: boolean;
  readonly overriddenBy: number | null;
}

export interface EvaluationOrder {
  readonly generation: number;
  readonly mesh: string;
  readonly mtls: string;
  readonly destinationTags: Readonly<Record<string, string>>;
  readonly policies: readonly OrderedPolicy[];
  readonly entries: readonly OrderedEntry[];
  readonly shadowPolicies: readonly OrderedPolicy[];
}

export interface DecidedBy {
  readonly policy: string;
  /** Absent or null when a rule (not a from entry) decided. */
  readonly fromIndex?: number | null;
  readonly [extra: string]: unknown;
}

export interface ExplainAnswer {
  readonly action: string;
  readonly via: string;
  readonly decidedBy: DecidedBy | null;
  readonly policies: readonly string[];
  readonly [extra: string]: unknown;
}

export type LogLine = Readonly<Record<string, unknown>>;

export interface RecentDecisions {
  readonly capacity: number;
  readonly recorded: number;
  readonly items: readonly LogLine[];
}

export interface ShadowSummary {
  readonly policies: readonly {
    mesh: string;
    name: string;
    file: string;
    counts: { same: number; would_allow: number; would_deny: number };
    examples: readonly LogLine[];
  }[];
}

export interface ReloadReport {
  readonly result: 'success' | 'failure';
  readonly at: string;
  readonly durationMs: number;
  readonly generation: number | null;
  readonly errorCount: number;
  readonly errors: readonly { text: string }[];
}

export interface Status {
  readonly loaded: boolean;
  readonly generation: number | null;
  readonly loadedAt: string | null;
  readonly stale: boolean;
  readonly policies: number;
  readonly lastReload: ReloadReport | null;
  readonly lastFailedReload: ReloadReport | null;
  readonly caches: Readonly<Record<string, { hits: number; misses: number; hitRatio: number | null }>>;
}

/** `k=v, k2=v2` (commas or new lines) → tag pairs; the message names the first bad item. */
export function parseTags(text: string): { tags: [string, string][] } | { error: string } {
  const tags: [string, string][] = [];
  for (const item of text.split(/[,\n]/)) {
    const trimmed = item.trim();
    if (trimmed === '') continue;
    const eq = trimmed.indexOf('=');
    if (eq <= 0 || eq === trimmed.length - 1) return { error: `"${trimmed}" must read KEY=VALUE` };
    tags.push([trimmed.slice(0, eq), trimmed.slice(eq + 1)]);
  }
  return { tags };
}

export function orderPath(mesh: string, tags: readonly [string, string][]): string {
  const query = new URLSearchParams({ mesh });
  for (const [key, value] of tags) query.append('tag', `${key}=${value}`);
  return `evaluation-order?${query.toString()}`;
}
