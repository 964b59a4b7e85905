/**
 * Checks refused instead of answered, for `mtp_authz_check_errors_total{code}`. Two of them never
 * reach the handler: grpc-js's message decoder answers an oversized request RESOURCE_EXHAUSTED,
 * and its handler lookup answers a method nobody registered (an Envoy configured for another API
 * version, say) UNIMPLEMENTED. grpc-js has no public hook for either, so this module watches the
 * two places they pass through, on one server instance only:
 *
 * - an interceptor on the Check method that sees the status each call ends with (the decoder ends
 *   the call through the call's own `sendStatus`);
 * - the server's handler lookup, which returns nothing for an unregistered method.
 *
 * test/authz/refusals.test.ts fails if a grpc-js upgrade moves either.
 */
import * as grpc from '@grpc/grpc-js';
import type { CheckErrorCode } from '../observability/metrics.js';

type RecordRefusal = (code: CheckErrorCode) => void;

interface StatusSender {
  sendStatus(status: { readonly code: grpc.status }): void;
}

/** An interceptor for `new grpc.Server({interceptors})`: counts oversized Check requests. */
export function oversizedCounter(checkPath: string, record: RecordRefusal): grpc.ServerInterceptor {
  // One function per server, not per call: each call only gains an own property pointing at it.
  let inherited: StatusSender['sendStatus'] | undefined;
  const counting = function (this: StatusSender, status: { readonly code: grpc.status }): void {
    if (status.code === grpc.status.RESOURCE_EXHAUSTED) record('oversized');
    inherited?.call(this, status);
  };
  return (method, call) => {
    if (method.path === checkPath) {
      const sender = call as unknown as StatusSender;
      inherited ??= (Object.getPrototypeOf(sender) as StatusSender).sendStatus;
      // The decoder ends an oversized call with this.sendStatus, so it passes here.
      sender.sendStatus = counting;
    }
    return call as grpc.ServerInterceptingCall;
  };
}

/** Counts calls to methods `server` does not implement; false when grpc-js has no such lookup. */
export function countUnimplemented(server: grpc.Server, record: RecordRefusal): boolean {
  const target = server as unknown as { _retrieveHandler?: (path: string) => unknown };
  const lookup = target._retrieveHandler;
  if (typeof lookup !== 'function') return false;
  target._retrieveHandler = function (this: unknown, path: string) {
    const handler = lookup.call(this, path);
    if (handler === null || handler === undefined) record('unimplemented');
    return handler;
  };
  return true;
}
