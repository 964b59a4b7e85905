/**
 * The vocabulary of the hot path: who calls (client identity), what is called (destination),
 * and what was decided. Built by the Envoy-facing edge or the CLI, consumed by decide().
 */
/** The tag every inbound carries: the service a request is for. */
export const SERVICE_TAG = 'kuma.io/service';

export const ACTIONS = ['Allow', 'Deny', 'AllowWithShadowDeny'] as const;
export type Action = (typeof ACTIONS)[number];

export type MtlsMode = 'disabled' | 'strict' | 'permissive';

export const SPIFFE_MATCH_TYPES = ['Exact', 'Prefix'] as const;
export type SpiffeIdMatchType = (typeof SPIFFE_MATCH_TYPES)[number];

/** One entry of a `spec.rules[].default` list (Kuma 2.12+); both parts set means both must match. */
export interface RuleMatch {
  readonly spiffeID?: { readonly type: SpiffeIdMatchType; readonly value: string };
  /** Kuma 2.14+. */
  readonly sni?: { readonly type: 'Exact'; readonly value: string };
}

/** One `from` entry, its targetRef flattened to the (key, value) pairs a client must carry. */
export interface CompiledEntry {
  readonly policy: string;
  readonly fromIndex: number;
  readonly action: Action;
  /** Parallel arrays; MeshService X is (kuma.io/service, X), Mesh is empty. */
  readonly keys: readonly string[];
  readonly values: readonly string[];
}

export const RULE_LISTS = ['deny', 'allowWithShadowDeny', 'allow'] as const;
export type RuleList = (typeof RULE_LISTS)[number];

export const VIAS = [
  'rule',
  'no-matching-from',
  'no-matching-rule',
  'no-policy',
  'mtls-disabled',
  'permissive-plaintext',
  'no-identity',
  'mesh-mismatch',
  'invalid-identity',
  'no-destination',
  'identity-too-complex',
] as const;
export type Via = (typeof VIAS)[number];

/** A verified workload identity read from a certificate's URI SANs or a SPIFFE principal. */
export interface ClientIdentity {
  /** SPIFFE trust domain, which Kuma sets to the mesh name. */
  readonly mesh: string;
  /** Tag key → distinct values, in the order first seen; `kuma.io/service` comes from SPIFFE IDs only. */
  readonly tags: ReadonlyMap<string, readonly string[]>;
  /** True when some key carries two or more values (a proxy with several inbounds). */
  readonly multiValued: boolean;
  /** Canonical text of mesh + sorted tags + the URI SANs: equal identities have equal keys. */
  readonly key: string;
  /**
   * Every URI SAN the client presented, exactly as presented and in order (ignored ones too):
   * `spec.rules` matchers read them joined with `,`, as Envoy does.
   */
  readonly sans: readonly string[];
}

/**
 * `ignoredSans`: URI SANs that added nothing (not an exact `spiffe://` or `kuma://` form), when
 * there were any. `cause` marks a client refused for presenting more URI SANs than allowed.
 */
export type Client =
  | { readonly kind: 'none' }
  | {
      readonly kind: 'invalid';
      readonly reason: string;
      readonly cause?: 'too-many-sans';
      readonly ignoredSans?: number;
    }
  | { readonly kind: 'identity'; readonly identity: ClientIdentity; readonly ignoredSans?: number };

/** The inbound being called. */
export interface Destination {
  readonly mesh: string;
  /** Inbound tags; always holds `kuma.io/service`. */
  readonly tags: ReadonlyMap<string, string>;
  /** The TLS server name the client asked for (`tls_session.sni`), read by `sni` matchers. */
  readonly sni?: string;
  /** Canonical text of mesh + sorted tags (+ SNI when present). */
  readonly key: string;
}

/** What decided: a `from` entry, or one match of a `spec.rules` rule. */
export type DecidedBy = FromDecidedBy | RuleDecidedBy;

export interface FromDecidedBy {
  readonly policy: string;
  readonly fromIndex: number;
}

export interface RuleDecidedBy {
  readonly policy: string;
  readonly fromIndex?: undefined;
  readonly ruleIndex: number;
  /** Which list of `spec.rules[ruleIndex].default`, which item of it, and what it matched on. */
  readonly match: { readonly list: RuleList; readonly index: number } & RuleMatch;
}

export interface Decision {
  readonly action: Action;
  readonly via: Via;
  readonly decidedBy: DecidedBy | null;
  /**
   * Names of the policies evaluated, least specific first (the order their from lists are joined);
   * for an inbound selected by a `rules` policy, the `rules` policies only.
   */
  readonly policies: readonly string[];
}
