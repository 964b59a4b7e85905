/**
 * The HTTP listener (SPEC §6.1): `/healthz` answers 200 while the process runs, `/readyz` 200 only
 * while a policy set is loaded and the service is not draining; the observability and admin
 * routes are mounted beside them from their own route tables.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TcpAddress } from '../settings.js';
import type { ServiceState } from '../state.js';
import { createRouter, type Route, sendJson } from './router.js';

export interface HttpService {
  /** The bound TCP port. */
  readonly port: number;
  close(): Promise<void>;
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
