/**
 * The validated, typed form of everything users write: what the loader produces and the
 * compiler consumes. Nothing here knows about YAML; nothing here is read on the hot path.
 */

export {
  ACTIONS,
  type Action,
  type MtlsMode,
  RULE_LISTS,
  type RuleList,
  type RuleMatch,
  SERVICE_TAG,
  SPIFFE_MATCH_TYPES,
  type SpiffeIdMatchType,
} from '../decision/types.js';
import type { Action, MtlsMode, RuleMatch } from '../decision/types.js';

export const TARGET_REF_KINDS = [
  'Mesh',
  'MeshSubset',
  'MeshService',
  'MeshServiceSubset',
  'Dataplane',
] as const;
export type TargetRefKind = (typeof TARGET_REF_KINDS)[number];

export type ProxyType = 'Sidecar' | 'Gateway';

/** One-based line and column. */
export interface Pos {
  readonly line: number;
  readonly col: number;
}

/** Where a resource (or one of its fields) was written. Lines and columns start at 1. */
export interface SourceLocation {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

export interface TargetRef {
  readonly kind: TargetRefKind;
  /** MeshService / MeshServiceSubset only. */
  readonly name?: string;
  /** MeshSubset / MeshServiceSubset only. */
  readonly tags?: Readonly<Record<string, string>>;
  /** Top-level Mesh / MeshSubset only; empty or absent means every proxy type. */
  readonly proxyTypes?: readonly ProxyType[];
  /** Top-level Dataplane only (Kuma 2.10+): which proxies, and which of their inbounds. */
  readonly namespace?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly sectionName?: string;
}

export interface FromEntry {
  readonly targetRef: TargetRef;
  readonly action: Action;
}

export const SNI_MATCH_TYPES = ['Exact'] as const;

/** `spec.rules[i].default`: absent lists are empty. */
export interface MtpRule {
  readonly deny: readonly RuleMatch[];
  readonly allowWithShadowDeny: readonly RuleMatch[];
  readonly allow: readonly RuleMatch[];
}

export type ResourceForm = 'universal' | 'kubernetes';

interface ResourceBase {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly form: ResourceForm;
  /** Position of the document's first node. */
  readonly source: SourceLocation;
}

export interface MeshTrafficPermission extends ResourceBase {
  readonly type: 'MeshTrafficPermission';
  readonly mesh: string;
  /** Omitted spec.targetRef is stored as {kind: Mesh}. */
  readonly targetRef: TargetRef;
  /** Empty for a policy written with `spec.rules`. */
  readonly from: readonly FromEntry[];
  /** Set (non-empty) exactly when the policy is written with `spec.rules` (Kuma 2.12+). */
  readonly rules?: readonly MtpRule[];
  /** Kubernetes form: `metadata.namespace`, used to resolve a Dataplane targetRef by name. */
  readonly namespace?: string;
}

export interface MeshResource extends ResourceBase {
  readonly type: 'Mesh';
  readonly mtls: MtlsMode;
}

export const ACCESS_KINDS = ['CREATE', 'UPDATE', 'DELETE', 'GENERATE_USER_TOKEN'] as const;
export type AccessKind = (typeof ACCESS_KINDS)[number];

/** A `when` qualifier of an AccessRole rule (targetRef-style policies only). */
export interface AccessQualifier {
  readonly targetRef?: AccessTargetRef;
  readonly from?: { readonly targetRef?: AccessTargetRef };
  readonly to?: { readonly targetRef?: AccessTargetRef };
}

/** RBAC compares targetRefs by kind, name and tags only; kinds are not restricted to MTP's. */
export interface AccessTargetRef {
  readonly kind: string;
  readonly name?: string;
  readonly tags?: Readonly<Record<string, string>>;
}

export interface AccessRule {
  readonly types: readonly string[];
  readonly names: readonly string[];
  /** Absent or '*' means any mesh. */
  readonly mesh?: string;
  readonly access: readonly AccessKind[];
  readonly when: readonly AccessQualifier[];
}

export interface AccessRole extends ResourceBase {
  readonly type: 'AccessRole';
  readonly rules: readonly AccessRule[];
}

export interface AccessSubject {
  readonly type: 'User' | 'Group';
  readonly name: string;
}

export interface AccessRoleBinding extends ResourceBase {
  readonly type: 'AccessRoleBinding';
  readonly subjects: readonly AccessSubject[];
  readonly roles: readonly string[];
}

export type Resource = MeshTrafficPermission | MeshResource | AccessRole | AccessRoleBinding;
export type ResourceType = Resource['type'];

/** Everything one successful load produced. */
export interface PolicySet {
  readonly policies: readonly MeshTrafficPermission[];
  readonly meshes: readonly MeshResource[];
  readonly accessRoles: readonly AccessRole[];
  readonly accessRoleBindings: readonly AccessRoleBinding[];
  /** Non-fatal findings (unknown spec fields, deprecations), already formatted like errors. */
  readonly warnings: readonly PolicyIssue[];
}

/** One violation or warning, printed as `FILE:LINE:COL: FIELD_PATH: MESSAGE`. */
export interface PolicyIssue {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  /** Rooted at the resource: `spec.from[0].default.action`, `labels["kuma.io/origin"]`, `name`. */
  readonly path: string;
  readonly message: string;
}

export const ORIGIN_LABEL = 'kuma.io/origin';
export const DISPLAY_NAME_LABEL = 'kuma.io/display-name';
export const EFFECT_LABEL = 'kuma.io/effect';
export const MESH_LABEL = 'kuma.io/mesh';
export const DEFAULT_MESH = 'default';
