/**
 * A decoded CheckRequest → the decision's inputs (SPEC §2.4, §2.5). Identity comes from the peer
 * certificate or the peer principal that Envoy verified, never from request headers.
 */

import type { CertificateReader } from '../decision/cache.js';
import { clientFromPrincipal, NO_CLIENT } from '../decision/identity.js';
import type { Client } from '../decision/types.js';
import { type CheckRequestView, TEXT_FIELD } from './codec.js';

export interface HttpAttributes {
  readonly method: string;
  readonly host: string;
  readonly path: string;
  /** `x-request-id`, else Envoy's request id ('' when neither). */
  readonly requestId: string;
}

/** The caller: its certificate if Envoy forwarded one, else its SPIFFE principal, else nobody. */
export function clientOf(view: CheckRequestView, readCertificate: CertificateReader): Client {
  const start = view.start(TEXT_FIELD.sourceCertificate);
  const end = view.end(TEXT_FIELD.sourceCertificate);
  if (end > start) return readCertificate(view.bytes, start, end);
  const principal = view.text(TEXT_FIELD.sourcePrincipal);
  if (principal !== '') return clientFromPrincipal(principal);
  return NO_CLIENT;
}

/** The request line of an HTTP check; undefined for the network (TCP) filter. */
export function httpAttributesOf(view: CheckRequestView): HttpAttributes | undefined {
  if (!view.isHttp) return undefined;
  return {
    method: view.text(TEXT_FIELD.httpMethod),
    host: view.text(TEXT_FIELD.httpHost),
    path: view.text(TEXT_FIELD.httpPath),
    requestId: view.requestId() || view.text(TEXT_FIELD.httpId),
  };
}
