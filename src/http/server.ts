/**
 * The HTTP listener (SPEC §6.1): `/healthz` answers 200 while the process runs, `/readyz` 200 only
 * while a policy set is loaded and the service is not draining; the observability and admin
 * routes are mounted beside them from their own route tables.
 *
 * Nothing on this port may starve the gRPC port: connections are capped (beyond the cap they are
 * closed as soon as they are accepted), slow clients are cut by the headers and request timeouts,
 * and idle keep-alive connections by the keep-alive timeout.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TcpAddress } from '../settings/values.js';
import type { ServiceState } from '../authz/state.js';
import { createRouter, type Route, sendJson } from './router.js';

export interface HttpLimits {
  /** Connections held at once; more are closed at once. */
  readonly maxConnections: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
}

/** The defaults of the `--http-*` flags. */
export const DEFAULT_HTTP_LIMITS: HttpLimits = Object.freeze({
  maxConnections: 512,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
});

/** How often the timeouts above are enforced (Node checks them on an interval, default 30 s). */
const TIMEOUT_CHECK_INTERVAL_MS = 1_000;
/** At most one "connection limit reached" log line per this period. */
const DROP_LOG_INTERVAL_MS = 10_000;

export interface HttpService {
  /** The bound TCP port. */
  readonly port: number;
  /** Connections held at once; more are closed at once. */
  readonly maxConnections: number;
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
  limits: HttpLimits = DEFAULT_HTTP_LIMITS,
  /** Told (at most every 10 s) how many connections were closed for being over the cap. */
  onDropped: (count: number) => void = () => {},
): Promise<HttpService> {
  const server: Server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.min(TIMEOUT_CHECK_INTERVAL_MS, limits.headersTimeoutMs),
    },
    createRouter([...healthRoutes(state, ready), ...routes], onError),
  );
  server.maxConnections = limits.maxConnections;
  let dropped = 0;
  let lastReport = -Infinity;
  server.on('drop', () => {
    dropped++;
    const now = performance.now();
    if (now - lastReport < DROP_LOG_INTERVAL_MS) return;
    lastReport = now;
    onDropped(dropped);
    dropped = 0;
  });
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
    maxConnections: limits.maxConnections,
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
