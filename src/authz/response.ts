/**
 * A Decision → the bytes of a CheckResponse (SPEC §3). A denial is an OK RPC whose status.code is
 * 7, never a failed RPC. The answers depend only on (action, deciding policy, HTTP or not), so
 * they are encoded once and reused.
 */
import type { Decision } from '../decision/types.js';
import { encodeCheckResponse } from './codec.js';

export const GRPC_OK = 0;
export const GRPC_PERMISSION_DENIED = 7;
export const DENIED_HTTP_STATUS = 403;
export const DENIED_BODY = 'RBAC: access denied';

export const METADATA = {
  enforcedResult: 'enforced_engine_result',
  enforcedPolicy: 'enforced_effective_policy_id',
  shadowResult: 'shadow_engine_result',
  shadowPolicy: 'shadow_effective_policy_id',
} as const;

/** The dynamic_metadata entries of an answer, in the order they are encoded. */
export function metadataOf(decision: Decision): [string, string][] {
  const allowed = decision.action !== 'Deny';
  const entries: [string, string][] = [[METADATA.enforcedResult, allowed ? 'allowed' : 'denied']];
  const policy = decision.decidedBy?.policy;
  if (policy !== undefined) entries.push([METADATA.enforcedPolicy, policy]);
  if (decision.action === 'AllowWithShadowDeny') {
    entries.push([METADATA.shadowResult, 'denied']);
    if (policy !== undefined) entries.push([METADATA.shadowPolicy, policy]);
  }
  return entries;
}

export function encodeDecision(decision: Decision, http: boolean): Buffer {
  const metadata = metadataOf(decision);
  if (decision.action === 'Deny') {
    return encodeCheckResponse({
      code: GRPC_PERMISSION_DENIED,
      denied: { httpStatus: DENIED_HTTP_STATUS, body: DENIED_BODY },
      metadata,
    });
  }
  return encodeCheckResponse({ code: GRPC_OK, ok: http, metadata });
}

/** Bounds the memo: policy names are few, but reloads can rename them without limit. */
const MEMO_LIMIT = 4096;

/** Encoded answers keyed by what they depend on. Shared buffers: never mutate a result. */
export class ResponseCache {
  readonly #answers = new Map<string, Buffer>();
  /** Decisions come from the decision cache (or are constants): look the same object up for free. */
  readonly #byDecision = new WeakMap<Decision, { http?: Buffer; tcp?: Buffer }>();

  answer(decision: Decision, http: boolean): Buffer {
    let known = this.#byDecision.get(decision);
    const hit = http ? known?.http : known?.tcp;
    if (hit !== undefined) return hit;
    const bytes = this.#encoded(decision, http);
    if (known === undefined) this.#byDecision.set(decision, (known = {}));
    if (http) known.http = bytes;
    else known.tcp = bytes;
    return bytes;
  }

  #encoded(decision: Decision, http: boolean): Buffer {
    const key = `${decision.action}\u0000${http ? 'h' : 'n'}\u0000${decision.decidedBy?.policy ?? ''}`;
    let bytes = this.#answers.get(key);
    if (bytes === undefined) {
      if (this.#answers.size >= MEMO_LIMIT) this.#answers.clear();
      bytes = encodeDecision(decision, http);
      this.#answers.set(key, bytes);
    }
    return bytes;
  }
}
