/**
 * A small route table for the HTTP port: `{method, path, help, handle}` rows with `{param}`
 * segments, matched exactly (no prefixes, no regexes from users). Unknown paths answer 404,
 * known paths with another method 405 with `Allow`, and a handler that throws answers 500 —
 * never a hung socket.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export type Params = Readonly<Record<string, string>>;

export interface Route {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** e.g. `/meshes/{mesh}/meshtrafficpermissions/{name}` */
  readonly path: string;
  readonly help: string;
  handle(req: IncomingMessage, res: ServerResponse, params: Params): void | Promise<void>;
}

interface Compiled {
  readonly route: Route;
  readonly segments: readonly string[];
}

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

export function problem(
  status: number,
  title: string,
  detail: string,
): { status: number; title: string; detail: string } {
  return { status, title, detail };
}

export function createRouter(routes: readonly Route[], onError: (error: unknown) => void): RequestListener {
  const compiled: Compiled[] = routes.map((route) => ({ route, segments: route.path.split('/') }));
  return (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    const segments = path.split('/');
    const allowed: string[] = [];
    for (const { route, segments: pattern } of compiled) {
      const params = match(pattern, segments);
      if (params === undefined) continue;
      const method = req.method === 'HEAD' ? 'GET' : req.method;
      if (route.method !== method) {
        allowed.push(route.method);
        continue;
      }
      Promise.resolve()
        .then(() => route.handle(req, res, params))
        .catch((error: unknown) => {
          onError(error);
          if (!res.headersSent)
            sendJson(res, 500, problem(500, 'Internal Server Error', 'the request failed'));
          else res.destroy();
        });
      return;
    }
    if (allowed.length > 0) {
      sendJson(res, 405, problem(405, 'Method Not Allowed', `${path} answers ${allowed.join(', ')}`), {
        allow: allowed.join(', '),
      });
      return;
    }
    sendJson(res, 404, problem(404, 'Not Found', `no route for ${req.method} ${path}`));
  };
}

function match(pattern: readonly string[], segments: readonly string[]): Params | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const want = pattern[i] as string;
    const got = segments[i] as string;
    if (want.startsWith('{') && want.endsWith('}')) {
      if (got === '') return undefined;
      let value: string;
      try {
        value = decodeURIComponent(got);
      } catch {
        return undefined;
      }
      params[want.slice(1, -1)] = value;
    } else if (want !== got) {
      return undefined;
    }
  }
  return params;
}
