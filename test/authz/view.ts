/** A decoded CheckRequestView with every field it locates turned into plain values, for comparisons. */
import { type CheckRequestView, TEXT_FIELD } from '../../src/authz/codec.js';

export interface PlainView {
  sourcePrincipal: string;
  sourceCertificate: string;
  destinationPrincipal: string;
  destinationLabels: Map<string, string> | undefined;
  destinationTagsExtension: string | undefined;
  sni: string | undefined;
  http: { id: string; method: string; host: string; path: string; requestId: string } | undefined;
}

export function plain(view: CheckRequestView): PlainView {
  return {
    sourcePrincipal: view.text(TEXT_FIELD.sourcePrincipal),
    sourceCertificate: view.text(TEXT_FIELD.sourceCertificate),
    destinationPrincipal: view.text(TEXT_FIELD.destinationPrincipal),
    destinationLabels: view.destinationLabels(),
    destinationTagsExtension: view.has(TEXT_FIELD.destinationTagsExtension)
      ? view.text(TEXT_FIELD.destinationTagsExtension)
      : undefined,
    sni: view.has(TEXT_FIELD.tlsSni) ? view.text(TEXT_FIELD.tlsSni) : undefined,
    http: view.isHttp
      ? {
          id: view.text(TEXT_FIELD.httpId),
          method: view.text(TEXT_FIELD.httpMethod),
          host: view.text(TEXT_FIELD.httpHost),
          path: view.text(TEXT_FIELD.httpPath),
          requestId: view.requestId(),
        }
      : undefined,
  };
}
