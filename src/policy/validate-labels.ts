/**
 * Resource metadata rules: the resource name and mesh (Kuma's rules) and labels (Kubernetes'
 * label syntax, with Kubernetes' own messages).
 */
import { POLICY_MESSAGES as M } from './errors.js';
import type { Pos } from './parse.js';
import { type Findings, keyPath, type StringMap } from './validate-context.js';

const RESOURCE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const MESH_NAME = /^[0-9a-z\-_.]*$/;
const MAX_NAME_LENGTH = 253;

/** Kuma's check of a resource name (RFC 1123 subdomain). */
export function checkResourceName(f: Findings, name: string | undefined, pos: Pos): void {
  if (name === undefined || name === '') f.rule('name', pos, M.cannotBeEmpty);
  else if (byteLength(name) > MAX_NAME_LENGTH) f.rule('name', pos, M.nameTooLong);
  else if (!RESOURCE_NAME.test(name)) f.rule('name', pos, M.resourceNameChars);
}

/** Kuma's check of the mesh a resource belongs to (lenient: `_` is allowed for older meshes). */
export function checkMeshName(f: Findings, path: string, mesh: string, pos: Pos): void {
  if (mesh === '') f.rule(path, pos, M.cannotBeEmpty);
  else if (byteLength(mesh) > MAX_NAME_LENGTH) f.rule(path, pos, M.nameTooLong);
  else if (!MESH_NAME.test(mesh)) f.rule(path, pos, M.meshNameChars);
}

/** Every label must be a valid Kubernetes label: reported at `labels["k"]`. */
export function checkLabels(f: Findings, labels: StringMap): void {
  for (const e of labels.entries) {
    const path = keyPath('labels', e.key);
    for (const message of labelKeyErrors(e.key)) f.rule(path, e.keyPos, message);
    const value = labels.values[e.key];
    if (value !== undefined)
      for (const message of labelValueErrors(value)) f.rule(path, e.value.pos, message);
  }
}

// --- Kubernetes label syntax (k8s.io/apimachinery/pkg/util/validation) ------------------------

const QUALIFIED_NAME_FMT = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const QUALIFIED_NAME_MSG =
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const QUALIFIED_NAME_MAX = 63;
const LABEL_VALUE_FMT = `(${QUALIFIED_NAME_FMT})?`;
const LABEL_VALUE_MSG =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_MAX = 63;
const DNS_LABEL_FMT = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS_SUBDOMAIN_FMT = `${DNS_LABEL_FMT}(\\.${DNS_LABEL_FMT})*`;
const DNS_SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS_SUBDOMAIN_MAX = 253;

const QUALIFIED_NAME = new RegExp(`^${QUALIFIED_NAME_FMT}$`);
const LABEL_VALUE = new RegExp(`^${LABEL_VALUE_FMT}$`);
const DNS_SUBDOMAIN = new RegExp(`^${DNS_SUBDOMAIN_FMT}$`);

const tooLong = (max: number): string => `must be no more than ${max} characters`;

/** Kubernetes' regex explanation: `MSG (e.g. 'a',  or 'b', regex used for validation is 'RE')`. */
function regexMessage(message: string, regex: string, examples: readonly string[]): string {
  const shown = examples.map((e) => `'${e}', `).join(' or ');
  return `${message} (e.g. ${shown}regex used for validation is '${regex}')`;
}

/** Go measures strings in bytes. */
const byteLength = (s: string): number => Buffer.byteLength(s, 'utf8');

function dnsSubdomainErrors(value: string): string[] {
  const errors: string[] = [];
  if (byteLength(value) > DNS_SUBDOMAIN_MAX) errors.push(tooLong(DNS_SUBDOMAIN_MAX));
  if (!DNS_SUBDOMAIN.test(value))
    errors.push(regexMessage(DNS_SUBDOMAIN_MSG, DNS_SUBDOMAIN_FMT, ['example.com']));
  return errors;
}

/** A label key: an optional DNS subdomain prefix and `/`, then a name of at most 63 characters. */
export function labelKeyErrors(key: string): string[] {
  const nameExamples = ['MyName', 'my.name', '123-abc'];
  const parts = key.split('/');
  const errors: string[] = [];
  if (parts.length > 2) {
    return [
      `a qualified name ${regexMessage(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, nameExamples)} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`,
    ];
  }
  const name = parts.length === 2 ? (parts[1] as string) : key;
  if (parts.length === 2) {
    const prefix = parts[0] as string;
    if (prefix === '') errors.push('prefix part must be non-empty');
    else for (const e of dnsSubdomainErrors(prefix)) errors.push(`prefix part ${e}`);
  }
  if (name === '') errors.push('name part must be non-empty');
  else if (byteLength(name) > QUALIFIED_NAME_MAX) errors.push(`name part ${tooLong(QUALIFIED_NAME_MAX)}`);
  if (!QUALIFIED_NAME.test(name)) {
    errors.push(`name part ${regexMessage(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, nameExamples)}`);
  }
  return errors;
}

export function labelValueErrors(value: string): string[] {
  const errors: string[] = [];
  if (byteLength(value) > LABEL_VALUE_MAX) errors.push(tooLong(LABEL_VALUE_MAX));
  if (!LABEL_VALUE.test(value)) {
    errors.push(regexMessage(LABEL_VALUE_MSG, LABEL_VALUE_FMT, ['MyValue', 'my_value', '12345']));
  }
  return errors;
}
