/**
 * The observability routes of the HTTP port (SPEC §6.1): `GET /metrics`, `GET /policies` and
 * `POST /explain`, as a table the HTTP server mounts. Framework-free: each handler takes node:http's
 * request and response and a context giving the registry and the live policies.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBodyBytes } from '../http/body.js';
import { sendJson } from '../http/router.js';
import type { Registry } from 'prom-client';
import type { DecisionTable } from '../decision/table.js';
import type { PolicySet, ResourceType } from '../policy/types.js';
import { DEFAULT_IDENTITY_LIMITS, type IdentityLimits } from '../decision/identity.js';
import { answerExplain, type ExplainAnswer, explainLimits } from '../http/explain-request.js';

export const MAX_EXPLAIN_BODY_BYTES = 1024 * 1024;

/** What /policies reports about the policy set serving requests. */
export interface StateSnapshot {
  readonly generation: number;
  readonly loadedAt: Date;
  /** True while the newest files failed to load and this older set serves. */
  readonly stale: boolean;
  readonly set: PolicySet;
  /** `--store`: the shared store's version this set was loaded at. */
  readonly storeVersion?: number;
}

export interface ObservabilityContext {
  /** A registry, or anything that renders like one (the cluster primary's aggregation). */
  readonly registry: Pick<Registry, 'metrics' | 'contentType'>;
  /** Undefined before the first successful load. */
  snapshot(): StateSnapshot | undefined;
  /** The enforced decision table; undefined before the first successful load. */
  table(): DecisionTable | undefined;
  /**
   * Answers POST /explain off the main thread (see explain-thread.ts); without it the request is
   * answered in-line against `table`.
   */
  readonly explain?: (body: Uint8Array) => Promise<ExplainAnswer>;
  /** Bounds on a client's SANs, as for Checks (default: the `serve` defaults). */
  readonly identityLimits?: IdentityLimits;
}

export type RouteHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  context: ObservabilityContext,
) => Promise<void>;

export interface ObservabilityRoute {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly help: string;
  readonly handler: RouteHandler;
}

export interface PolicyListing {
  readonly generation: number;
  readonly loadedAt: string;
  readonly stale: boolean;
  readonly policies: readonly {
    readonly type: ResourceType;
    /** The resource's mesh; a Mesh document's own name; null for the global RBAC resources. */
    readonly mesh: string | null;
    readonly name: string;
    readonly file: string;
  }[];
  readonly storeVersion?: number;
}

export const observabilityRoutes: readonly ObservabilityRoute[] = Object.freeze([
  {
    method: 'GET',
    path: '/metrics',
    help: 'Prometheus metrics (text exposition format 0.0.4)',
    handler: metricsHandler,
  },
  {
    method: 'GET',
    path: '/policies',
    help: 'The policy set serving requests: generation, load time, staleness, resources and their files',
    handler: policiesHandler,
  },
  {
    method: 'POST',
    path: '/explain',
    help: 'Decide one request against the live policies and say why (the JSON of `mtp-authz explain`)',
    handler: explainHandler,
  },
]);

async function metricsHandler(_req: IncomingMessage, res: ServerResponse, context: ObservabilityContext) {
  const text = await context.registry.metrics();
  res.writeHead(200, {
    'content-type': context.registry.contentType,
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

async function policiesHandler(_req: IncomingMessage, res: ServerResponse, context: ObservabilityContext) {
  const snapshot = context.snapshot();
  if (snapshot === undefined) {
    sendProblem(res, 503, 'Service Unavailable', 'no policy set loaded');
    return;
  }
  sendJson(res, 200, policyListing(snapshot));
}

export function policyListing(snapshot: StateSnapshot): PolicyListing {
  const { set } = snapshot;
  const policies = [
    ...set.policies.map((r) => ({ type: r.type, mesh: r.mesh, name: r.name, file: r.source.file })),
    ...set.meshes.map((r) => ({ type: r.type, mesh: r.name, name: r.name, file: r.source.file })),
    ...set.accessRoles.map((r) => ({ type: r.type, mesh: null, name: r.name, file: r.source.file })),
    ...set.accessRoleBindings.map((r) => ({ type: r.type, mesh: null, name: r.name, file: r.source.file })),
  ];
  return {
    generation: snapshot.generation,
    loadedAt: snapshot.loadedAt.toISOString(),
    stale: snapshot.stale,
    policies,
    ...(snapshot.storeVersion === undefined ? {} : { storeVersion: snapshot.storeVersion }),
  };
}

async function explainHandler(req: IncomingMessage, res: ServerResponse, context: ObservabilityContext) {
  // Bytes, not text: decoding and parsing a large body is left to the explain thread.
  const body = await readBodyBytes(req, MAX_EXPLAIN_BODY_BYTES);
  if (!body.ok) {
    if (body.reason === 'too-large') {
      const detail = `request body is larger than ${MAX_EXPLAIN_BODY_BYTES} bytes`;
      sendProblem(res, 413, 'Payload Too Large', detail, { connection: 'close' });
    } else sendProblem(res, 400, 'Bad Request', 'request body could not be read', { connection: 'close' });
    return;
  }
  const table = context.table();
  if (table === undefined) {
    sendProblem(res, 503, 'Service Unavailable', 'no policy set loaded');
    return;
  }
  const answer =
    context.explain === undefined
      ? answerExplain(table, body.bytes, explainLimits(context.identityLimits ?? DEFAULT_IDENTITY_LIMITS))
      : await context.explain(body.bytes);
  sendJson(res, answer.status, answer.body);
}

function sendProblem(
  res: ServerResponse,
  status: number,
  title: string,
  detail: string,
  headers: Record<string, string> = {},
): void {
  sendJson(res, status, { status, title, detail }, headers);
}
