/**
 * grpc.health.v1.Health: `""` and the Authorization service are SERVING while a policy set is
 * loaded and the service is not draining. Check answers NOT_FOUND for any other service; Watch
 * answers SERVICE_UNKNOWN for it, as the protocol says, and streams every change. Each Watch holds
 * a stream open for as long as the client likes, so their number is capped: one over the cap is
 * refused with RESOURCE_EXHAUSTED.
 */
import type { IncomingHttpHeaders } from 'node:http2';
import type { ServerStream } from '../grpc/server.js';
import { GRPC_STATUS, GrpcFailure, quoted } from '../grpc/status.js';
import type { ServiceState } from './state.js';
import {
  decodeHealthCheckRequest,
  encodeHealthCheckResponse,
  HEALTH_SERVING_STATUS,
  type HealthServingStatus,
  MalformedMessageError,
} from './codec.js';

export const AUTHORIZATION_SERVICE = 'envoy.service.auth.v3.Authorization';
const KNOWN_SERVICES: ReadonlySet<string> = new Set(['', AUTHORIZATION_SERVICE]);

export const HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check';
export const HEALTH_WATCH_PATH = '/grpc.health.v1.Health/Watch';

const MALFORMED = new GrpcFailure(GRPC_STATUS.INVALID_ARGUMENT, 'malformed HealthCheckRequest');

/** The requested service, or undefined when the request does not decode. */
function serviceOf(request: Buffer): string | undefined {
  try {
    return decodeHealthCheckRequest(request);
  } catch (error) {
    if (!(error instanceof MalformedMessageError)) throw error;
    return undefined;
  }
}

function statusOf(state: ServiceState, service: string): HealthServingStatus {
  if (!KNOWN_SERVICES.has(service)) return HEALTH_SERVING_STATUS.SERVICE_UNKNOWN;
  return state.ready ? HEALTH_SERVING_STATUS.SERVING : HEALTH_SERVING_STATUS.NOT_SERVING;
}

export interface HealthService {
  check(request: Buffer, headers: IncomingHttpHeaders): Buffer | GrpcFailure;
  watch(request: Buffer, call: ServerStream): void;
  /** Sends the final status to every watcher and ends their streams (they would hold shutdown). */
  endWatches(): void;
}

/** The default of `--max-health-watches`. */
export const DEFAULT_MAX_HEALTH_WATCHES = 1000;

export function createHealthService(
  state: ServiceState,
  maxWatches = DEFAULT_MAX_HEALTH_WATCHES,
): HealthService {
  const watches = new Set<() => void>();

  const check = (request: Buffer): Buffer | GrpcFailure => {
    const service = serviceOf(request);
    if (service === undefined) return MALFORMED;
    const status = statusOf(state, service);
    if (status === HEALTH_SERVING_STATUS.SERVICE_UNKNOWN) {
      return new GrpcFailure(GRPC_STATUS.NOT_FOUND, `unknown service ${quoted(service)}`);
    }
    return encodeHealthCheckResponse(status);
  };

  const watch = (request: Buffer, call: ServerStream): void => {
    if (watches.size >= maxWatches) {
      call.end(
        new GrpcFailure(
          GRPC_STATUS.RESOURCE_EXHAUSTED,
          `too many health watches (at most ${maxWatches}; see --max-health-watches)`,
        ),
      );
      return;
    }
    const service = serviceOf(request);
    if (service === undefined) {
      call.end(MALFORMED);
      return;
    }
    let last = statusOf(state, service);
    call.write(encodeHealthCheckResponse(last));
    const unsubscribe = state.subscribe(() => {
      const next = statusOf(state, service);
      if (next === last) return;
      last = next;
      call.write(encodeHealthCheckResponse(next));
    });
    const end = (): void => call.end();
    watches.add(end);
    // A cancelled watch must leave the set too: it would be held (and counted) forever.
    call.onClose(() => {
      unsubscribe();
      watches.delete(end);
    });
  };

  return {
    check,
    watch,
    endWatches() {
      for (const end of [...watches]) end();
    },
  };
}
