/**
 * The Check handler: bytes in, bytes out. Decode → map → decide → encode; it does no I/O and holds
 * no state but the snapshot it reads once per call. A request it cannot decode is refused with an
 * INVALID_ARGUMENT error (a malformed message is not a decision).
 */
import { decide } from '../decision/decide.js';
import type { Decision } from '../decision/types.js';
import type { ServiceState } from '../state.js';
import { decodeCheckRequest, MalformedMessageError } from './codec.js';
import { type CertificateReader, type CheckInput, checkInputOf } from './request.js';
import { ResponseCache } from './response.js';

export type CheckOutcome =
  | { readonly ok: true; readonly response: Buffer; readonly decision: Decision; readonly input: CheckInput }
  | { readonly ok: false; readonly code: 'malformed' | 'unavailable'; readonly message: string };

export interface CheckHandler {
  /** `tagsMetadata`: the `x-mtp-destination-tags` gRPC metadata value, if sent. */
  check(request: Buffer, tagsMetadata: string | undefined): CheckOutcome;
}

export function createCheckHandler(state: ServiceState, readCertificate: CertificateReader): CheckHandler {
  const responses = new ResponseCache();
  return {
    check(request, tagsMetadata) {
      const snapshot = state.current;
      if (snapshot === undefined) return { ok: false, code: 'unavailable', message: 'no policy set loaded' };
      let input: CheckInput;
      try {
        input = checkInputOf(decodeCheckRequest(request), tagsMetadata, readCertificate);
      } catch (error) {
        if (error instanceof MalformedMessageError) {
          return { ok: false, code: 'malformed', message: `malformed CheckRequest: ${error.message}` };
        }
        throw error;
      }
      const decision = decide(snapshot.table, input.destination, input.client);
      return { ok: true, response: responses.answer(decision, input.http !== undefined), decision, input };
    },
  };
}
