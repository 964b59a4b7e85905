/**
 * A Kubernetes ConfigMap manifest of policies, read as the files its mount would produce, so
 * `validate deploy/kubernetes/configmap.yaml` checks what the pods will load. Each data key becomes
 * a text named `MANIFEST[KEY]`; positions in its issues are within that key's value. Keys a mount
 * would not read (no .yaml, .yml or .json) are warnings.
 */
import { parseAllDocuments } from 'yaml';
import { POLICY_MESSAGES as M } from '../errors.js';
import type { PolicyText } from './load.js';
import { fileIssue } from './parse.js';
import type { PolicyIssue } from './types.js';

const POLICY_KEY = /\.(ya?ml|json)$/i;

export interface ConfigMapContent {
  readonly texts: PolicyText[];
  readonly warnings: PolicyIssue[];
  readonly errors: PolicyIssue[];
}

/** undefined when the text is not a ConfigMap manifest (no document of kind ConfigMap). */
export function configMapContent(file: string, text: string): ConfigMapContent | undefined {
  let documents: ReturnType<typeof parseAllDocuments>;
  try {
    documents = parseAllDocuments(text, { uniqueKeys: false });
  } catch {
    return undefined;
  }
  if (!Array.isArray(documents)) return undefined;
  const values = documents.map((d) => (d.errors.length > 0 ? undefined : (d.toJS() as unknown)));
  const isConfigMap = (v: unknown): v is { data?: unknown } =>
    typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'ConfigMap';
  if (!values.some(isConfigMap)) return undefined;
  const content: ConfigMapContent = { texts: [], warnings: [], errors: [] };
  values.forEach((value, index) => {
    const where = positionIn(text, documents[index]?.contents?.range?.[0] ?? 0);
    if (!isConfigMap(value)) {
      if (value !== null && value !== undefined) content.errors.push(fileIssue(file, M.notAConfigMap, where));
      return;
    }
    const data = value.data;
    if (typeof data !== 'object' || data === null) return;
    for (const [key, entry] of Object.entries(data as Record<string, unknown>)) {
      if (!POLICY_KEY.test(key)) content.warnings.push(fileIssue(file, M.configMapKeySkipped(key), where));
      else if (typeof entry === 'string') content.texts.push({ file: `${file}[${key}]`, text: entry });
    }
  });
  return content;
}

function positionIn(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, offset);
  const lastNewline = before.lastIndexOf('\n');
  return { line: before.split('\n').length, col: offset - lastNewline };
}
