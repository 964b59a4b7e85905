/**
 * The HTTP listener (SPEC §6.1): `/healthz` answers 200 while the process runs, `/readyz` 200 only
 * while a policy set is loaded and the service is not draining. Everything else is a JSON 404.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TcpAddress } from '../settings.js';
import type { ServiceState } from '../state.js';

export interface HttpService {
  /** The bound TCP port. */
  readonly port: number;
  close(): Promise<void>;
}

function sendJson(
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

function problem(status: number, title: string, detail: string): Record<string, unknown> {
  return { status, title, detail };
}

type Route = (req: IncomingMessage, res: ServerResponse) => void;

export function createRoutes(state: ServiceState): ReadonlyMap<string, Route> {
  return new Map<string, Route>([
    ['/healthz', (_req, res) => sendJson(res, 200, { status: 'ok' })],
    [
      '/readyz',
      (_req, res) => {
        const snapshot = state.current;
        if (state.ready && snapshot !== undefined) {
          sendJson(res, 200, { status: 'ready', generation: snapshot.generation });
        } else {
          sendJson(res, 503, { status: state.draining ? 'draining' : 'no policy set loaded' });
        }
      },
    ],
  ]);
}

export async function startHttpServer(state: ServiceState, address: TcpAddress): Promise<HttpService> {
  const routes = createRoutes(state);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    const route = routes.get(path);
    if (route === undefined) {
      sendJson(res, 404, problem(404, 'Not Found', `no route for ${req.method} ${path}`));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, problem(405, 'Method Not Allowed', `${path} answers GET only`), {
        allow: 'GET, HEAD',
      });
      return;
    }
    route(req, res);
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
