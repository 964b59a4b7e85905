/**
 * The observability routes of the HTTP port (SPEC §6.1): `GET /metrics`, `GET /policies` and
 * `POST /explain`, as a table the HTTP server mounts. Framework-free: each handler takes node:http's
 * request and response and a context giving the registry and the live policies.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBodyText } from './body.js';
import { sendJson } from './router.js';
import type { Registry } from 'prom-client';
import { clientFromCertificate } from '../authz/certificate.js';
import {
  clientFromUris,
  DEFAULT_IDENTITY_LIMITS,
  type IdentityLimits,
  makeDestination,
  NO_CLIENT,
  tooManySans,
} from '../decision/identity.js';
import { looksLikeUri } from '../decision/san.js';
import type { DecisionTable } from '../decision/table.js';
import type { Client, Destination } from '../decision/types.js';
import { explain, explainJson } from '../explain.js';
import { DEFAULT_MESH, type PolicySet, type ResourceType, SERVICE_TAG } from '../policy/types.js';

export const MAX_EXPLAIN_BODY_BYTES = 1024 * 1024;

/** What /policies reports about the policy set serving requests. */
export interface StateSnapshot {
  readonly generation: number;
  readonly loadedAt: Date;
  /** True while the newest files failed to load and this older set serves. */
  readonly stale: boolean;
  readonly set: PolicySet;
}

export interface ObservabilityContext {
  /** A registry, or anything that renders like one (the cluster primary's aggregation). */
  readonly registry: Pick<Registry, 'metrics' | 'contentType'>;
  /** Undefined before the first successful load. */
  snapshot(): StateSnapshot | undefined;
  /** The enforced decision table; undefined before the first successful load. */
  table(): DecisionTable | undefined;
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
  };
}

async function explainHandler(req: IncomingMessage, res: ServerResponse, context: ObservabilityContext) {
  const body = await readBody(req, MAX_EXPLAIN_BODY_BYTES);
  if (!body.ok) {
    sendProblem(res, 400, 'Bad Request', body.detail, { connection: 'close' });
    return;
  }
  const request = parseExplainRequest(body.text, context.identityLimits);
  if (!request.ok) {
    sendProblem(res, 400, 'Bad Request', request.detail);
    return;
  }
  const table = context.table();
  if (table === undefined) {
    sendProblem(res, 503, 'Service Unavailable', 'no policy set loaded');
    return;
  }
  const explanation = explain(table, request.destination, request.client);
  sendJson(res, 200, explainJson(explanation.decision, explanation.rules));
}

type Parsed<T> = ({ readonly ok: true } & T) | { readonly ok: false; readonly detail: string };

const EXPLAIN_FIELDS = new Set(['destinationMesh', 'destinationTags', 'clientSans', 'clientCert', 'sni']);

/** The body of POST /explain → destination and client, or the precise reason it is not usable. */
export function parseExplainRequest(
  text: string,
  limits: IdentityLimits = DEFAULT_IDENTITY_LIMITS,
): Parsed<{ destination: Destination; client: Client }> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return fail('request body is not valid JSON');
  }
  if (!isObject(body)) return fail('request body must be a JSON object');
  for (const key of Object.keys(body)) {
    if (!EXPLAIN_FIELDS.has(key)) {
      return fail(
        `unknown field ${JSON.stringify(key)}: expected destinationMesh, destinationTags, clientSans, clientCert or sni`,
      );
    }
  }

  const mesh = body.destinationMesh ?? DEFAULT_MESH;
  if (typeof mesh !== 'string') return fail('destinationMesh must be a string');
  if (mesh === '') return fail('destinationMesh must not be empty');

  const rawTags = body.destinationTags;
  if (rawTags === undefined) return fail(`destinationTags is required and must include "${SERVICE_TAG}"`);
  if (!isObject(rawTags)) return fail('destinationTags must be an object of tag names to values');
  const tags = new Map<string, string>();
  for (const [key, value] of Object.entries(rawTags)) {
    const where = `destinationTags[${JSON.stringify(key)}]`;
    if (key === '') return fail('destinationTags: tag name must be non-empty');
    if (typeof value !== 'string') return fail(`${where} must be a string`);
    if (value === '') return fail(`${where} must be non-empty`);
    tags.set(key, value);
  }
  if (!tags.has(SERVICE_TAG)) return fail(`destinationTags must include "${SERVICE_TAG}"`);

  const sni = body.sni;
  if (sni !== undefined && typeof sni !== 'string') return fail('sni must be a string');
  const sans = body.clientSans;
  const cert = body.clientCert;
  if (sans !== undefined && cert !== undefined) {
    return fail('give the client as clientSans or clientCert, not both');
  }
  let client: Client = NO_CLIENT;
  if (sans !== undefined) {
    if (!Array.isArray(sans)) return fail('clientSans must be an array of URI strings');
    // More SANs than a certificate may carry: the answer a Check would get, without reading them.
    if (sans.length > limits.maxUriSans) return parsedClient(mesh, tags, tooManySans('client', limits), sni);
    const uris: string[] = [];
    for (const [i, uri] of sans.entries()) {
      if (typeof uri !== 'string') return fail(`clientSans[${i}] must be a string`);
      if (!looksLikeUri(uri)) return fail(`clientSans[${i}] must be a URI, such as spiffe://MESH/SERVICE`);
      uris.push(uri);
    }
    client = uris.length === 0 ? NO_CLIENT : clientFromUris(uris, limits);
  } else if (cert !== undefined) {
    if (typeof cert !== 'string') return fail('clientCert must be a string holding a PEM certificate');
    if (cert.trim() === '') return fail('clientCert must not be empty: omit it for a plaintext client');
    client = clientFromCertificate(encodeURIComponent(cert), limits);
  }
  return parsedClient(mesh, tags, client, sni);
}

function parsedClient(
  mesh: string,
  tags: ReadonlyMap<string, string>,
  client: Client,
  sni: string | undefined,
): Parsed<{ destination: Destination; client: Client }> {
  return { ok: true, destination: makeDestination(mesh, tags, sni), client };
}

/** Reads the whole body as UTF-8, refusing one longer than `limit` bytes. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Parsed<{ text: string }>> {
  const body = await readBodyText(req, limit);
  if (body.ok) return body;
  if (body.reason === 'too-large') return fail(`request body is larger than ${limit} bytes`);
  return fail(
    body.reason === 'unreadable' ? 'request body could not be read' : 'request body is not valid UTF-8',
  );
}

function fail(detail: string): { readonly ok: false; readonly detail: string } {
  return { ok: false, detail };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
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
