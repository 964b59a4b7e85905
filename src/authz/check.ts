/**
 * The Check handler: bytes in, bytes out. Decode → map → decide → encode, then tell the
 * observers (metrics, decision log, shadow evaluation). It does no I/O of its own and reads the
 * policy snapshot once per call. A request it cannot decode is refused with an INVALID_ARGUMENT
 * error (a malformed message is not a decision).
 */
import { type CertificateReader, DecisionCache } from '../decision/cache.js';
import type { Client, Decision, Destination } from '../decision/types.js';
import type { ShadowRecord } from '../console/shadow-record.js';
import type { DecisionLog, DecisionLogEntry } from '../observability/decision-log.js';
import { type Metrics, meshLabel } from '../observability/metrics.js';
import { compareShadow, type ShadowResult } from '../decision/shadow.js';
import type { ServiceState } from './state.js';
import { CheckRequestView, MalformedMessageError } from './codec.js';
import { DestinationResolver } from './destination.js';
import { clientOf, httpAttributesOf } from './request.js';
import { ResponseCache } from './response.js';

export type CheckOutcome =
  | { readonly ok: true; readonly response: Buffer; readonly decision: Decision }
  | { readonly ok: false; readonly code: 'malformed' | 'unavailable'; readonly message: string };

export interface CheckHandler {
  /** `tagsMetadata`: the `x-mtp-destination-tags` gRPC metadata value, if sent. */
  check(request: Buffer, tagsMetadata: string | undefined): CheckOutcome;
}

export interface CheckObservers {
  readonly decisions?: DecisionCache;
  readonly metrics?: Metrics;
  readonly decisionLog?: DecisionLog;
  /** Per shadow policy outcomes and examples, for the console. */
  readonly shadowRecord?: Pick<ShadowRecord, 'observe'>;
}

const SHADOW_SCOPE = 'shadow';

export function createCheckHandler(
  state: ServiceState,
  readCertificate: CertificateReader,
  observers: CheckObservers = {},
): CheckHandler {
  const responses = new ResponseCache();
  const destinations = new DestinationResolver();
  // One view, decoded into call after call: check() runs to completion before the next call.
  const view = new CheckRequestView();
  const decisions = observers.decisions ?? new DecisionCache(0);
  const { metrics, decisionLog, shadowRecord } = observers;
  return {
    check(request, tagsMetadata) {
      const started = performance.now();
      const snapshot = state.current;
      if (snapshot === undefined) return { ok: false, code: 'unavailable', message: 'no policy set loaded' };
      let destination: Destination | undefined;
      try {
        view.decode(request);
        // A destination not seen before is checked here, as the resolver reads it.
        destination = destinations.resolve(view, tagsMetadata);
      } catch (error) {
        if (error instanceof MalformedMessageError) {
          return { ok: false, code: 'malformed', message: `malformed CheckRequest: ${error.message}` };
        }
        throw error;
      }
      const client = clientOf(view, readCertificate);
      const decision = decisions.decide(snapshot.table, destination, client);
      const response = responses.answer(decision, view.isHttp);

      let shadow: ShadowResult | undefined;
      const shadowTable = snapshot.shadowTable;
      if (shadowTable !== undefined) {
        const shadowDecision = decisions.decide(shadowTable, destination, client, SHADOW_SCOPE);
        shadow = compareShadow(decision, shadowDecision);
      }
      if (metrics !== undefined) {
        const mesh = meshLabel(snapshot.table, destination?.mesh);
        metrics.recordCheck(mesh, decision.action, decision.via, (performance.now() - started) / 1000);
        const ignoredSans = client.kind === 'none' ? 0 : (client.ignoredSans ?? 0);
        const tooManySans = client.kind === 'invalid' && client.cause === 'too-many-sans';
        if (ignoredSans > 0 || tooManySans) metrics.recordIdentity(ignoredSans, tooManySans);
        if (shadow !== undefined) metrics.recordShadow(mesh, shadow.outcome);
      }
      if (shadow !== undefined && shadowRecord !== undefined) {
        const result = shadow;
        shadowRecord.observe(snapshot.set, destination?.mesh, result, () =>
          logEntry(view, decision, destination, client, result),
        );
      }
      if (decisionLog?.wants(decision, shadow?.difference != null)) {
        decisionLog.record(logEntry(view, decision, destination, client, shadow));
      }
      return { ok: true, response, decision };
    },
  };
}

function logEntry(
  view: CheckRequestView,
  decision: Decision,
  destination: Destination | undefined,
  client: Client,
  shadow: ShadowResult | undefined,
): DecisionLogEntry {
  const http = httpAttributesOf(view);
  return {
    decision,
    destination,
    client,
    http: http === undefined ? undefined : { ...http, requestId: http.requestId || undefined },
    shadow: shadow?.difference,
  };
}
