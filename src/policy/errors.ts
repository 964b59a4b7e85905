/**
 * Every message a policy file can produce, in one table, and the one way they are printed:
 * `FILE:LINE:COL: FIELD_PATH: MESSAGE`. Messages marked "Kuma" / "Kubernetes" are those projects'
 * own wording, so operators can search for them.
 */
import type { PolicyIssue } from './types.js';

const list = (values: readonly string[]): string => `[${values.join(' ')}]`;

export const POLICY_MESSAGES = {
  // --- schema level (required / enum / type); Kubernetes OpenAPI wording ---
  required: 'in body is required',
  wrongType: (expected: string, actual: string): string => `in body must be of type ${expected}: "${actual}"`,
  notOneOf: (values: readonly string[]): string => `in body should be one of ${list(values)}`,

  // --- rule level; Kuma wording ---
  mustBeDefined: 'must be defined',
  needsAtLeastOneItem: 'needs at least one item',
  valueNotSupported: 'value is not supported',
  meshNameNotSupported: 'using name with kind Mesh is not yet supported',
  mustNotBeSetWithKind: (kind: string): string => `must not be set with kind ${kind}`,
  mustBeSetWithKind: (kind: string): string => `must be set with kind ${kind}`,
  targetRefNameChars:
    "invalid characters: must consist of lower case alphanumeric characters, '-', '.' and '_'.",
  tagNameEmpty: 'tag name must be non-empty',
  tagNameChars: 'tag name must consist of alphanumeric characters, dots, dashes, slashes and underscores',
  tagValueEmpty: 'tag value must be non-empty',
  tagValueChars: 'tag value must consist of alphanumeric characters, dots, dashes and underscores',
  cannotBeEmpty: 'cannot be empty',
  nameTooLong: 'value length must less or equal 253',
  resourceNameChars:
    "invalid characters. A lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
  meshNameChars:
    "invalid characters. Valid characters are numbers, lowercase latin letters and '-', '_', '.' symbols.",
  enabledBackendUnknown: 'has to be set to one of the backends in the mesh',
  backendNameReused: (name: string): string => `"${name}" name is already used for another backend`,
  fromAndRules: "field 'from' must be empty when 'rules' is defined",
  fromOrRulesRequired: "at least one of 'from' or 'rules' has to be defined",
  ruleListRequired: "at least one of 'allow', 'allowWithShadowDeny', 'deny' has to be defined",
  invalidSpiffeId: (reason: string): string => `must be a valid Spiffe ID: ${reason}`,
  mustBeSet: 'must be set',
  labelsOrNameAndNamespace: 'either labels or name and namespace must be specified',
  sectionNameInboundOnly: 'can only be used with inbound policies',
  // Kubernetes wording (IsDNS1123Subdomain)
  dns1123SubdomainTooLong: 'must be no more than 253 characters',
  dns1123Subdomain:
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
  meshServiceFromDeprecated:
    "MeshService value for 'from[].targetRef.kind' is deprecated, use MeshSubset with 'kuma.io/service' instead",

  // --- documents and resources; this service's wording ---
  documentKindMissing:
    'must be defined: a document needs "type" (Universal form) or "apiVersion" and "kind" (Kubernetes form)',
  unsupportedKind: (what: 'type' | 'kind', value: string, accepted: readonly string[]): string =>
    `unsupported ${what} "${value}": must be one of ${list(accepted)}`,
  duplicateName: (type: string, name: string, mesh: string | undefined, first: string): string =>
    `duplicate ${type} "${name}"${mesh === undefined ? '' : ` in mesh "${mesh}"`}, first defined at ${first}`,
  unknownFieldIgnored: 'unknown field, ignored',
  matchMatchesNothing: 'sets neither spiffeID nor sni, so it matches no client; this match is ignored',
  prefixNotAtBoundary: (value: string, example: string): string =>
    `Prefix "${value}" is matched as raw text and does not end at a SPIFFE boundary (the end of the trust domain or a "/"): it also matches "${example}"`,
  unknownField: 'unknown field',
  ignoredOnGlobal: (type: string): string => `is ignored: ${type} is global (not bound to a mesh)`,
  ignoredInFrom: 'is ignored in a from entry (it only selects proxies in the top-level targetRef)',
  ignoredInQualifier: 'is ignored: qualifiers compare targetRefs by kind, name and tags only',
  accessIgnored: (value: string): string => `${value} does not apply to this service and is ignored`,
  legacyQualifier: (key: string): string =>
    `"${key}" qualifiers never match a MeshTrafficPermission; this qualifier is ignored`,
  ruleWithoutUsableQualifier:
    'no qualifier can match a MeshTrafficPermission; this rule grants nothing and is ignored',

  // --- files and YAML hazards ---
  noSuchFile: 'no such file or directory',
  notARegularFile: 'not a regular file or directory',
  noPolicyExtension:
    'skipped: a policy file name ends in .yaml, .yml or .json (a ConfigMap key without one is not read)',
  configMapKeySkipped: (key: string): string =>
    `data key "${key}" is skipped: mounted, only names ending in .yaml, .yml or .json are read`,
  notAConfigMap: 'a ConfigMap manifest holds only ConfigMap documents',
  unreadable: (code: string): string => `cannot be read (${code})`,
  fileTooLarge: (size: number, limit: number): string =>
    `file is ${size} bytes, over the limit of ${limit} bytes (--max-policy-file-bytes)`,
  policySetTooLarge: (size: number, limit: number): string =>
    `the policy files up to this one add up to ${size} bytes, over the limit of ${limit} bytes for the whole set (--max-policy-bytes)`,
  invalidUtf8: (offset: number): string =>
    `file is not valid UTF-8: invalid byte sequence at byte offset ${offset}`,
  aliasBomb: 'Excessive alias count indicates a resource exhaustion attack',
  tooDeep: (limit: number): string => `nesting is deeper than ${limit} levels`,
  keyNotScalar: 'map keys must be strings, not collections',
  duplicateKey: (key: string): string => `Map keys must be unique: "${key}" appears more than once`,
  unknownTag: (tag: string): string =>
    `unknown YAML tag "${tag}": only the YAML core schema's tags are accepted`,
} as const;

export type PolicyMessageCode = keyof typeof POLICY_MESSAGES;

/** `FILE:LINE:COL: FIELD_PATH: MESSAGE` */
export function formatIssue(issue: PolicyIssue): string {
  return `${issue.file}:${issue.line}:${issue.col}: ${issue.path}: ${issue.message}`;
}

/** Orders issues by file name, then line, then column; equal positions keep their order. */
export function compareIssues(a: PolicyIssue, b: PolicyIssue): number {
  if (a.file !== b.file) return a.file < b.file ? -1 : 1;
  return a.line - b.line || a.col - b.col;
}

export function sortIssues(issues: readonly PolicyIssue[]): PolicyIssue[] {
  return [...issues].sort(compareIssues);
}

/** Thrown by callers that want an exception; the loader itself returns issues instead. */
export class PolicyLoadError extends Error {
  readonly issues: readonly PolicyIssue[];

  constructor(issues: readonly PolicyIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.name = 'PolicyLoadError';
    this.issues = issues;
  }
}
