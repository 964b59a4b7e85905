/**
 * Request bodies of the admin API: size limit, media type, UTF-8, and one JSON or YAML document
 * turned into plain data. YAML goes through the policy parser, so the same guards (nesting depth,
 * alias expansion, duplicate keys) apply as to files; each failure is a ready problem body.
 */
import type { IncomingMessage } from 'node:http';
import { formatIssue } from '../policy/errors.js';
import { readBodyText } from '../http/body.js';
import { type LNode, parsePolicyText } from '../policy/parse.js';
import { badRequest, type Problem, problem } from './problems.js';

/** 1 MiB, as for `POST /explain`. */
export const MAX_ADMIN_BODY_BYTES = 1024 * 1024;

/** The file name violations of a request body are reported under. */
export const BODY_FILE = 'body';

export type BodyFormat = 'json' | 'yaml';

const MEDIA_TYPES: ReadonlyMap<string, BodyFormat> = new Map([
  ['application/json', 'json'],
  ['application/yaml', 'yaml'],
  ['application/x-yaml', 'yaml'],
  ['text/yaml', 'yaml'],
  ['text/x-yaml', 'yaml'],
]);

export type BodyResult<T> =
  ({ readonly ok: true } & T) | { readonly ok: false; readonly problem: Problem; readonly close?: boolean };

/** The format of a `Content-Type` header; undefined for a missing or unsupported one. */
export function bodyFormat(contentType: string | undefined): BodyFormat | undefined {
  if (contentType === undefined) return undefined;
  const [essence = '', ...params] = contentType.split(';').map((p) => p.trim());
  for (const param of params) {
    const [key, value] = param.split('=', 2).map((p) => p.trim().toLowerCase());
    if (key === 'charset' && value !== undefined && value.replaceAll('"', '') !== 'utf-8') return undefined;
  }
  return MEDIA_TYPES.get(essence.toLowerCase());
}

export function unsupportedMediaType(contentType: string | undefined): Problem {
  const what = contentType === undefined ? 'a missing Content-Type' : `Content-Type "${contentType}"`;
  return problem(
    415,
    'Unsupported Media Type',
    `${what} is not supported: send application/json or application/yaml (UTF-8)`,
  );
}

/** Checks the media type, then reads at most `limit` bytes of UTF-8 text. */
export async function readRequestBody(
  req: IncomingMessage,
  limit = MAX_ADMIN_BODY_BYTES,
): Promise<BodyResult<{ text: string; format: BodyFormat }>> {
  const format = bodyFormat(req.headers['content-type']);
  if (format === undefined) return { ok: false, problem: unsupportedMediaType(req.headers['content-type']) };
  const tooLarge = {
    ok: false,
    problem: problem(413, 'Payload Too Large', `request body is larger than ${limit} bytes`),
    close: true,
  } as const;
  const body = await readBodyText(req, limit);
  if (body.ok) return { ok: true, text: body.text, format };
  if (body.reason === 'too-large') return tooLarge;
  if (body.reason === 'unreadable')
    return { ok: false, problem: badRequest('request body could not be read'), close: true };
  return { ok: false, problem: badRequest('request body is not valid UTF-8') };
}

/** One document of JSON or YAML → plain data (objects, arrays, scalars); anything else is a 400. */
export function parseBodyDocument(text: string, format: BodyFormat): BodyResult<{ value: unknown }> {
  if (format === 'json') {
    try {
      JSON.parse(text);
    } catch (error) {
      return {
        ok: false,
        problem: badRequest(`request body is not valid JSON: ${(error as Error).message}`),
      };
    }
  }
  const parsed = parsePolicyText(BODY_FILE, text, { maxFileBytes: MAX_ADMIN_BODY_BYTES });
  if (parsed.errors.length > 0) {
    const what = format === 'json' ? 'JSON' : 'YAML';
    return {
      ok: false,
      problem: badRequest(`request body is not valid ${what}`, parsed.errors.map(formatIssue)),
    };
  }
  const [first, ...rest] = parsed.documents;
  if (first === undefined) return { ok: false, problem: badRequest('request body holds no document') };
  if (rest.length > 0) {
    return {
      ok: false,
      problem: badRequest(`request body must hold one document, found ${parsed.documents.length}`),
    };
  }
  return { ok: true, value: plain(first.root) };
}

/**
 * Located node → plain data. Mappings have no prototype, so `__proto__` or `constructor` is just a
 * key; the parser has already bounded the nesting depth.
 */
function plain(node: LNode): unknown {
  if (node.kind === 'scalar') return node.value;
  if (node.kind === 'seq') return node.items.map(plain);
  const out = Object.create(null) as Record<string, unknown>;
  for (const [key, e] of node.entries) out[key] = plain(e.value);
  return out;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
