/**
 * A Kubernetes ConfigMap manifest of policies, read as the files its mount would produce, so
 * `validate deploy/kubernetes/configmap.yaml` checks what the pods will load. Each data key becomes
 * a text named `MANIFEST[KEY]`; `remap` puts its issues back at their place in the manifest when
 * the value is a `|` block (the usual form). Keys a mount would not read (no .yaml, .yml or .json)
 * are warnings.
 */
import { isMap, isScalar, parseAllDocuments, Scalar } from 'yaml';
import { POLICY_MESSAGES as M } from './errors.js';
import type { PolicyText } from './load.js';
import { fileIssue } from './parse.js';
import type { PolicyIssue } from './types.js';

const POLICY_KEY = /\.(ya?ml|json)$/i;

export interface ConfigMapContent {
  readonly texts: PolicyText[];
  readonly warnings: PolicyIssue[];
  readonly errors: PolicyIssue[];
  /**
   * An issue of one of `texts` at its place in the manifest, when the key's value is a literal
   * block (`key: |`), whose lines are the manifest's lines less their indentation; other values
   * keep their in-key position.
   */
  remap(issue: PolicyIssue): PolicyIssue;
}

interface Shift {
  readonly lines: number;
  readonly cols: number;
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
  const shifts = new Map<string, Shift>();
  const content: ConfigMapContent = {
    texts: [],
    warnings: [],
    errors: [],
    remap(issue) {
      const shift = shifts.get(issue.file);
      if (shift === undefined) return issue;
      return { ...issue, file, line: issue.line + shift.lines, col: issue.col + shift.cols };
    },
  };
  values.forEach((value, index) => {
    const document = documents[index];
    if (!isConfigMap(value)) {
      const where = positionIn(text, document?.contents?.range?.[0] ?? 0);
      if (value !== null && value !== undefined) content.errors.push(fileIssue(file, M.notAConfigMap, where));
      return;
    }
    const data = document?.get('data', true);
    if (!isMap(data)) return;
    for (const pair of data.items) {
      if (!isScalar(pair.key)) continue;
      const key = String(pair.key.value);
      const where = positionIn(text, pair.key.range?.[0] ?? 0);
      if (!POLICY_KEY.test(key)) {
        content.warnings.push(fileIssue(file, M.configMapKeySkipped(key), where));
        continue;
      }
      if (!isScalar(pair.value) || typeof pair.value.value !== 'string') continue;
      const name = `${file}[${key}]`;
      content.texts.push({ file: name, text: pair.value.value });
      const shift = literalBlockShift(text, pair.value);
      if (shift !== undefined) shifts.set(name, shift);
    }
  });
  return content;
}

/** A `|` block's first content line is the line after its header, indented by the block's indent. */
function literalBlockShift(text: string, value: Scalar): Shift | undefined {
  if (value.type !== Scalar.BLOCK_LITERAL || value.range === undefined || value.range === null)
    return undefined;
  const header = positionIn(text, value.range[0]);
  const body = text.slice(text.indexOf('\n', value.range[0]) + 1, value.range[1]);
  const firstLine = body.split('\n').find((line) => line.trim() !== '');
  if (firstLine === undefined) return undefined;
  return { lines: header.line, cols: firstLine.length - firstLine.trimStart().length };
}

function positionIn(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, offset);
  const lastNewline = before.lastIndexOf('\n');
  return { line: before.split('\n').length, col: offset - lastNewline };
}
