/**
 * The console's routes on the HTTP port (SPEC §11), all reads: the static console at `/ui/`
 * (when enabled) and the JSON it reads beside the existing `/policies` and `POST /explain` —
 * `GET /decisions/recent`, `GET /shadow`, `GET /status` and `GET /evaluation-order`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { makeDestination } from '../decision/identity.js';
import type { Route } from '../http/router.js';
import { sendJson } from '../http/router.js';
import { METRIC_NAMES } from '../observability/metrics.js';
import { DEFAULT_MESH, SERVICE_TAG } from '../policy/types.js';
import type { Snapshot } from '../authz/state.js';
import type { UiAsset } from './assets.js';
import { evaluationOrder } from './evaluation-order.js';
import type { RecentDecisions } from './recent-decisions.js';
import type { ReloadStatus } from './reload-status.js';
import type { ShadowRecord } from './shadow-record.js';

export interface ConsoleContext {
  /** The serving snapshot and whether newer files failed to load; undefined before the first load. */
  current(): { readonly snapshot: Snapshot; readonly stale: boolean } | undefined;
  readonly recent: RecentDecisions;
  readonly shadows: ShadowRecord;
  readonly reloads: ReloadStatus;
  readonly registry: Pick<Registry, 'getSingleMetric'>;
  /** The built console; undefined when `--ui=false` (no /ui routes) — or null when not built. */
  readonly assets: ReadonlyMap<string, UiAsset> | null | undefined;
}

/** No inline script, nothing from elsewhere: the console works air-gapped and resists injection. */
export const CONSOLE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const ASSET_HEADERS = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  // Revalidated on every load (the ETag makes that a 304): an upgrade never serves stale code.
  'cache-control': 'no-cache',
};

const MAX_QUERY_TAGS = 64;

export function consoleRoutes(context: ConsoleContext): Route[] {
  const routes: Route[] = [
    {
      method: 'GET',
      path: '/decisions/recent',
      help: `The latest denies and shadow-denies (at most ${context.recent.capacity}), newest first, as decision log lines`,
      handle: (_req, res) =>
        sendJson(res, 200, {
          capacity: context.recent.capacity,
          recorded: context.recent.recorded,
          items: context.recent.lines(),
        }),
    },
    {
      method: 'GET',
      path: '/shadow',
      help: 'Per shadow policy: checks by outcome (same, would_allow, would_deny) and recent differing requests',
      handle: (_req, res) => {
        const current = context.current();
        if (current === undefined) return unavailable(res);
        sendJson(res, 200, { policies: context.shadows.summary(current.snapshot.set) });
      },
    },
    {
      method: 'GET',
      path: '/status',
      help: 'Generation, load time, staleness, the latest reload (with its violations) and cache hit ratios',
      handle: async (_req, res) => {
        const current = context.current();
        const caches = await cacheStats(context.registry);
        sendJson(res, 200, {
          loaded: current !== undefined,
          generation: current?.snapshot.generation ?? null,
          loadedAt: current?.snapshot.loadedAt.toISOString() ?? null,
          stale: current?.stale ?? false,
          policies: current?.snapshot.set.policies.length ?? 0,
          lastReload: context.reloads.last,
          lastFailedReload: context.reloads.lastFailure,
          caches,
        });
      },
    },
    {
      method: 'GET',
      path: '/evaluation-order',
      help: 'Query mesh=M&tag=k=v…: the policies selecting that inbound in evaluation order, with their from entries',
      handle: (req, res) => evaluationOrderHandler(req, res, context),
    },
  ];
  if (context.assets !== undefined) routes.push(...uiRoutes(context.assets));
  return routes;
}

function uiRoutes(assets: ReadonlyMap<string, UiAsset> | null): Route[] {
  const serve = (name: string) => (req: IncomingMessage, res: ServerResponse) => {
    const asset = assets?.get(name);
    if (asset === undefined) {
      const text = 'the console is not built: run npm run build\n';
      res.writeHead(503, { ...ASSET_HEADERS, 'content-type': 'text/plain; charset=utf-8' });
      res.end(text);
      return;
    }
    const headers = { ...ASSET_HEADERS, etag: asset.etag };
    if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, {
      ...headers,
      'content-type': asset.contentType,
      'content-length': asset.body.length,
    });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  };
  return [
    {
      method: 'GET',
      path: '/ui',
      help: 'Redirects to /ui/',
      handle: (_req, res) => {
        res.writeHead(308, { location: '/ui/', 'content-length': 0 });
        res.end();
      },
    },
    { method: 'GET', path: '/ui/', help: 'The operator console', handle: serve('index.html') },
    { method: 'GET', path: '/ui/app.js', help: 'The console script', handle: serve('app.js') },
    { method: 'GET', path: '/ui/app.css', help: 'The console style sheet', handle: serve('app.css') },
  ];
}

function evaluationOrderHandler(req: IncomingMessage, res: ServerResponse, context: ConsoleContext): void {
  const query = new URLSearchParams((req.url ?? '').split('?')[1] ?? '');
  const mesh = query.get('mesh') ?? DEFAULT_MESH;
  if (mesh === '') return badRequest(res, 'mesh must not be empty');
  const tagTexts = query.getAll('tag');
  if (tagTexts.length > MAX_QUERY_TAGS) return badRequest(res, `at most ${MAX_QUERY_TAGS} tag parameters`);
  const tags = new Map<string, string>();
  for (const text of tagTexts) {
    const eq = text.indexOf('=');
    const key = eq < 0 ? '' : text.slice(0, eq);
    const value = eq < 0 ? '' : text.slice(eq + 1);
    if (key === '' || value === '') return badRequest(res, `tag ${JSON.stringify(text)} must read KEY=VALUE`);
    if (tags.has(key)) return badRequest(res, `tag ${JSON.stringify(key)} is given twice`);
    tags.set(key, value);
  }
  if (!tags.has(SERVICE_TAG)) return badRequest(res, `the tags must include ${SERVICE_TAG}=SERVICE`);
  const current = context.current();
  if (current === undefined) return unavailable(res);
  const { snapshot } = current;
  sendJson(res, 200, {
    generation: snapshot.generation,
    ...evaluationOrder(snapshot.set, snapshot.table, snapshot.shadowTable, makeDestination(mesh, tags)),
  });
}

interface CacheStat {
  readonly hits: number;
  readonly misses: number;
  /** hits / (hits + misses); null before the first lookup. */
  readonly hitRatio: number | null;
}

/** Hit ratios since start-up, read from the lookup counter the metrics already keep. */
async function cacheStats(registry: ConsoleContext['registry']): Promise<Record<string, CacheStat>> {
  const counts: Record<string, { hit: number; miss: number }> = {
    decision: { hit: 0, miss: 0 },
    identity: { hit: 0, miss: 0 },
  };
  const metric = registry.getSingleMetric(METRIC_NAMES.cacheLookups);
  const values = metric === undefined ? [] : (await metric.get()).values;
  for (const { labels, value } of values) {
    const cache = counts[String(labels.cache)];
    if (cache !== undefined && (labels.result === 'hit' || labels.result === 'miss'))
      cache[labels.result] = value;
  }
  const stats: Record<string, CacheStat> = {};
  for (const [name, { hit, miss }] of Object.entries(counts)) {
    stats[name] = { hits: hit, misses: miss, hitRatio: hit + miss === 0 ? null : hit / (hit + miss) };
  }
  return stats;
}

function badRequest(res: ServerResponse, detail: string): void {
  sendJson(res, 400, { status: 400, title: 'Bad Request', detail });
}

function unavailable(res: ServerResponse): void {
  sendJson(res, 503, { status: 503, title: 'Service Unavailable', detail: 'no policy set loaded' });
}
