/**
 * The HTTP listener (SPEC §6.1): `/healthz` answers 200 while the process runs, `/readyz` 200 only
 * while a policy set is loaded and the service is not draining; the observability and admin
 * routes are mounted beside them from their own route tables.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TcpAddress } from '../settings.js';
import type { ServiceState } from '../state.js';
import { createRouter, type Route, sendJson } from './router.js';

export interface HttpService {
  /** The bound TCP port. */
  readonly port: number;
  /** Stops accepting; requests in flight may finish within `graceMs` (default 0: cut at once). */
  close(graceMs?: number): Promise<void>;
}

/** The health routes every listener has; the observability and admin routes are added by main. */
export function healthRoutes(state: ServiceState, ready: () => boolean = () => state.ready): Route[] {
  return [
    {
      method: 'GET',
      path: '/healthz',
      help: 'process is up',
      handle: (_req, res) => sendJson(res, 200, { status: 'ok' }),
    },
    {
      method: 'GET',
      path: '/readyz',
      help: 'a policy set is loaded and the service is not draining',
      handle: (_req, res) => {
        const snapshot = state.current;
        if (ready() && snapshot !== undefined) {
          sendJson(res, 200, { status: 'ready', generation: snapshot.generation });
        } else {
          const why = state.draining
            ? 'draining'
            : snapshot === undefined
              ? 'no policy set loaded'
              : 'not ready';
          sendJson(res, 503, { status: why });
        }
      },
    },
  ];
}

/** What Node answers a request it cannot parse; each refusal is also told to `onError` (a log line). */
const REFUSALS: Readonly<Record<string, string>> = {
  HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
  ERR_HTTP_REQUEST_TIMEOUT: '408 Request Timeout',
};

function refuse(error: NodeJS.ErrnoException, socket: Duplex, onError: (error: unknown) => void): void {
  const status = REFUSALS[error.code ?? ''] ?? '400 Bad Request';
  onError(Object.assign(error, { refusedWith: Number(status.slice(0, 3)) }));
  // As Node does without a listener: the answer, then the connection is closed.
  if (error.code !== 'ECONNRESET' && socket.writable)
    socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  socket.destroy();
}

export async function startHttpServer(
  state: ServiceState,
  address: TcpAddress,
  routes: readonly Route[] = [],
  onError: (error: unknown) => void = () => {},
  /** What /readyz reports; default: the state's own readiness. */
  ready?: () => boolean,
): Promise<HttpService> {
  const server: Server = createServer(createRouter([...healthRoutes(state, ready), ...routes], onError));
  server.keepAliveTimeout = 5_000;
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => refuse(error, socket, onError));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close(graceMs = 0) {
      return new Promise((resolve) => {
        // Requests in flight (an admin write answering 503) are answered; idle connections are
        // closed as they become idle, and whatever is left once the grace is over is cut.
        const idle = setInterval(() => server.closeIdleConnections(), 25);
        const cut = setTimeout(() => server.closeAllConnections(), graceMs);
        server.close(() => {
          clearInterval(idle);
          clearTimeout(cut);
          resolve();
        });
        server.closeIdleConnections();
        if (graceMs <= 0) server.closeAllConnections();
      });
    },
  };
}
