/**
 * The body of `POST /explain` → the JSON answer, as plain data, so it can be computed on the
 * explain thread as well as in-line. A request that is malformed is a 400. The client is bounded
 * as for Checks (`--max-certificate-sans`): more SANs than that get a Check's answer,
 * `invalid-identity`, without a SAN being read. A destination with more tags than any inbound is
 * explained with is a 422.
 */
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
import { explain, explainJson } from '../decision/explain.js';
import { DEFAULT_MESH, SERVICE_TAG } from '../policy/types.js';

export interface ExplainLimits extends IdentityLimits {
  /** Most `destinationTags`. */
  readonly maxDestinationTags: number;
}

export const MAX_EXPLAIN_DESTINATION_TAGS = 64;

export const DEFAULT_EXPLAIN_LIMITS: ExplainLimits = Object.freeze({
  ...DEFAULT_IDENTITY_LIMITS,
  maxDestinationTags: MAX_EXPLAIN_DESTINATION_TAGS,
});

/** The explain limits of a process whose clients are bounded by `identity`. */
export function explainLimits(identity: IdentityLimits): ExplainLimits {
  return { ...identity, maxDestinationTags: MAX_EXPLAIN_DESTINATION_TAGS };
}

export interface Problem {
  readonly status: number;
  readonly title: string;
  readonly detail: string;
}

/** What the route sends: a status and a JSON body (the explanation, or a problem). */
export interface ExplainAnswer {
  readonly status: number;
  readonly body: unknown;
}

type Parsed<T> = ({ readonly ok: true } & T) | { readonly ok: false; readonly problem: Problem };

const EXPLAIN_FIELDS = new Set(['destinationMesh', 'destinationTags', 'clientSans', 'clientCert', 'sni']);

export function problem(status: number, title: string, detail: string): Problem {
  return { status, title, detail };
}

const badRequest = (detail: string): { ok: false; problem: Problem } => ({
  ok: false,
  problem: problem(400, 'Bad Request', detail),
});
const tooComplex = (detail: string): { ok: false; problem: Problem } => ({
  ok: false,
  problem: problem(422, 'Unprocessable Content', detail),
});

/**
 * Decides the request of `body` (its bytes, or text) against `table` and says why; never throws
 * for bad input.
 */
export function answerExplain(
  table: DecisionTable,
  body: Uint8Array | string,
  limits: ExplainLimits = DEFAULT_EXPLAIN_LIMITS,
): ExplainAnswer {
  let text: string;
  try {
    text = typeof body === 'string' ? body : new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    return { status: 400, body: problem(400, 'Bad Request', 'request body is not valid UTF-8') };
  }
  const request = parseExplainRequest(text, limits);
  if (!request.ok) return { status: request.problem.status, body: request.problem };
  const explanation = explain(table, request.destination, request.client);
  return { status: 200, body: explainJson(explanation.decision, explanation.rules) };
}

/** The body of POST /explain → destination and client, or the precise reason it is not usable. */
export function parseExplainRequest(
  text: string,
  limits: ExplainLimits = DEFAULT_EXPLAIN_LIMITS,
): Parsed<{ destination: Destination; client: Client }> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return badRequest('request body is not valid JSON');
  }
  if (!isObject(body)) return badRequest('request body must be a JSON object');
  for (const key of Object.keys(body)) {
    if (!EXPLAIN_FIELDS.has(key)) {
      return badRequest(
        `unknown field ${JSON.stringify(key)}: expected destinationMesh, destinationTags, clientSans, clientCert or sni`,
      );
    }
  }

  const mesh = body.destinationMesh ?? DEFAULT_MESH;
  if (typeof mesh !== 'string') return badRequest('destinationMesh must be a string');
  if (mesh === '') return badRequest('destinationMesh must not be empty');

  const rawTags = body.destinationTags;
  if (rawTags === undefined)
    return badRequest(`destinationTags is required and must include "${SERVICE_TAG}"`);
  if (!isObject(rawTags)) return badRequest('destinationTags must be an object of tag names to values');
  const entries = Object.entries(rawTags);
  if (entries.length > limits.maxDestinationTags) {
    return tooComplex(
      `destinationTags has ${entries.length} tags, more than the ${limits.maxDestinationTags} an inbound is explained with`,
    );
  }
  const tags = new Map<string, string>();
  for (const [key, value] of entries) {
    const where = `destinationTags[${JSON.stringify(key)}]`;
    if (key === '') return badRequest('destinationTags: tag name must be non-empty');
    if (typeof value !== 'string') return badRequest(`${where} must be a string`);
    if (value === '') return badRequest(`${where} must be non-empty`);
    tags.set(key, value);
  }
  if (!tags.has(SERVICE_TAG)) return badRequest(`destinationTags must include "${SERVICE_TAG}"`);

  const sni = body.sni;
  if (sni !== undefined && typeof sni !== 'string') return badRequest('sni must be a string');
  const sans = body.clientSans;
  const cert = body.clientCert;
  if (sans !== undefined && cert !== undefined) {
    return badRequest('give the client as clientSans or clientCert, not both');
  }
  let client: Client = NO_CLIENT;
  if (sans !== undefined) {
    if (!Array.isArray(sans)) return badRequest('clientSans must be an array of URI strings');
    // More SANs than a certificate may carry: the answer a Check would get, without reading them.
    if (sans.length > limits.maxUriSans) {
      return {
        ok: true,
        destination: makeDestination(mesh, tags, sni),
        client: tooManySans('client', limits),
      };
    }
    const uris: string[] = [];
    for (const [i, uri] of sans.entries()) {
      if (typeof uri !== 'string') return badRequest(`clientSans[${i}] must be a string`);
      if (!looksLikeUri(uri))
        return badRequest(`clientSans[${i}] must be a URI, such as spiffe://MESH/SERVICE`);
      uris.push(uri);
    }
    client = uris.length === 0 ? NO_CLIENT : clientFromUris(uris, limits);
  } else if (cert !== undefined) {
    if (typeof cert !== 'string') return badRequest('clientCert must be a string holding a PEM certificate');
    if (cert.trim() === '') return badRequest('clientCert must not be empty: omit it for a plaintext client');
    // Exactly what a Check carrying this certificate gets, its identity bounds included.
    client = clientFromCertificate(encodeURIComponent(cert), limits);
  }
  return { ok: true, destination: makeDestination(mesh, tags, sni), client };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
