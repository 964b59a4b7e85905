/**
 * grpc.health.v1.Health: `""` and the Authorization service are SERVING while a policy set is
 * loaded and the service is not draining. Check answers NOT_FOUND for any other service; Watch
 * answers SERVICE_UNKNOWN for it, as the protocol says, and streams every change. Each Watch holds
 * a stream open for as long as the client likes, so their number is capped: one over the cap is
 * refused with RESOURCE_EXHAUSTED.
 */
import * as grpc from '@grpc/grpc-js';
import type { ServiceState } from './state.js';
import { rawMethod } from './raw-method.js';
import {
  decodeHealthCheckRequest,
  encodeHealthCheckResponse,
  HEALTH_SERVING_STATUS,
  type HealthServingStatus,
  MalformedMessageError,
} from './codec.js';

export const AUTHORIZATION_SERVICE = 'envoy.service.auth.v3.Authorization';
const KNOWN_SERVICES: ReadonlySet<string> = new Set(['', AUTHORIZATION_SERVICE]);

export const healthServiceDefinition = {
  Check: rawMethod('/grpc.health.v1.Health/Check'),
  Watch: rawMethod('/grpc.health.v1.Health/Watch', true),
} satisfies grpc.ServiceDefinition;

function statusOf(state: ServiceState, service: string): HealthServingStatus {
  if (!KNOWN_SERVICES.has(service)) return HEALTH_SERVING_STATUS.SERVICE_UNKNOWN;
  return state.ready ? HEALTH_SERVING_STATUS.SERVING : HEALTH_SERVING_STATUS.NOT_SERVING;
}

export interface HealthService {
  readonly implementation: grpc.UntypedServiceImplementation;
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

  const check: grpc.handleUnaryCall<Buffer, Buffer> = (call, callback) => {
    let service: string;
    try {
      service = decodeHealthCheckRequest(call.request);
    } catch (error) {
      if (!(error instanceof MalformedMessageError)) throw error;
      callback({ code: grpc.status.INVALID_ARGUMENT, details: 'malformed HealthCheckRequest' });
      return;
    }
    const status = statusOf(state, service);
    if (status === HEALTH_SERVING_STATUS.SERVICE_UNKNOWN) {
      callback({ code: grpc.status.NOT_FOUND, details: `unknown service "${service}"` });
      return;
    }
    callback(null, encodeHealthCheckResponse(status));
  };

  const watch: grpc.handleServerStreamingCall<Buffer, Buffer> = (call) => {
    if (watches.size >= maxWatches) {
      call.emit('error', {
        code: grpc.status.RESOURCE_EXHAUSTED,
        details: `too many health watches (at most ${maxWatches}; see --max-health-watches)`,
      });
      return;
    }
    let service: string;
    try {
      service = decodeHealthCheckRequest(call.request);
    } catch (error) {
      if (!(error instanceof MalformedMessageError)) throw error;
      // grpc-js turns an 'error' event on a server stream into the call's final status.
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: 'malformed HealthCheckRequest' });
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
    // A cancelled watch must leave the set too: it would be held (and counted) forever.
    const finish = (): void => {
      unsubscribe();
      watches.delete(end);
    };
    const end = (): void => {
      finish();
      call.end();
    };
    watches.add(end);
    call.on('cancelled', finish);
    call.on('error', finish);
  };

  return {
    implementation: { Check: check, Watch: watch },
    endWatches() {
      for (const end of [...watches]) end();
    },
  };
}
