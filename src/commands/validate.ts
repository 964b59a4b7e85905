/**
 * `mtp-authz validate PATH...` (SPEC §4): exit 0 when every policy is valid, 1 with one line per
 * violation (`FILE:LINE:COL: FIELD_PATH: MESSAGE`) on stderr, 2 for bad usage. A path that is a
 * Kubernetes ConfigMap manifest is checked as the files its mount would hold: its data keys.
 */
import { stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { formatIssue } from '../policy/errors.js';
import { configMapContent } from '../policy/configmap.js';
import { readPolicyFile } from '../policy/files.js';
import { DEFAULT_MAX_POLICY_FILE_BYTES, loadPolicies, type PolicyText } from '../policy/load.js';
import type { PolicyIssue } from '../policy/types.js';

export const VALIDATE_USAGE = `Usage: mtp-authz validate PATH...

Checks policy files and directories (read recursively: *.yaml, *.yml, *.json) as serve would load
them, and prints one line per violation: FILE:LINE:COL: FIELD_PATH: MESSAGE.
A Kubernetes ConfigMap manifest is checked as its data keys: an issue in a "key: |" block is
reported at its line in the manifest, others as MANIFEST[KEY]:LINE:COL within the key.
Exit codes: 0 valid, 1 invalid, 2 bad usage.
`;

const EXIT_INVALID = 1;
const EXIT_USAGE = 2;

export async function validateCommand(args: readonly string[]): Promise<number> {
  const usage = (message: string): number => {
    process.stderr.write(`mtp-authz: ${message}\n\n${VALIDATE_USAGE}`);
    return EXIT_USAGE;
  };
  // `--policies` is what serve and explain take; say what validate takes instead of "unknown option".
  const policiesFlag = args.findIndex((a) => a === '--policies' || a.startsWith('--policies='));
  if (policiesFlag >= 0) {
    const paths = args.flatMap((a) =>
      a.startsWith('--policies=') ? [a.slice('--policies='.length)] : a === '--policies' ? [] : [a],
    );
    return usage(`validate takes paths, not --policies: mtp-authz validate ${paths.join(' ') || 'PATH...'}`);
  }
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (error) {
    return usage((error as Error).message);
  }
  if (parsed.values.help === true) {
    process.stdout.write(VALIDATE_USAGE);
    return 0;
  }
  if (parsed.positionals.length === 0) return usage('validate needs at least one PATH');

  const paths: string[] = [];
  const texts: PolicyText[] = [];
  const remaps: ((issue: PolicyIssue) => PolicyIssue)[] = [];
  const errors: PolicyIssue[] = [];
  const warnings: PolicyIssue[] = [];
  for (const path of parsed.positionals) {
    const manifest = await readConfigMap(path);
    if (manifest === undefined) {
      paths.push(path);
      continue;
    }
    texts.push(...manifest.texts);
    remaps.push((issue) => manifest.remap(issue));
    errors.push(...manifest.errors);
    warnings.push(...manifest.warnings);
  }
  const result = await loadPolicies(paths, undefined, undefined, texts);
  const inManifest = (issue: PolicyIssue): PolicyIssue => remaps.reduce((i, remap) => remap(i), issue);
  warnings.push(...(result.ok ? result.set.warnings : result.warnings).map(inManifest));
  if (!result.ok) errors.push(...result.errors.map(inManifest));
  for (const warning of warnings) process.stderr.write(`warning: ${formatIssue(warning)}\n`);
  if (!result.ok || errors.length > 0) {
    for (const error of errors) process.stderr.write(`${formatIssue(error)}\n`);
    return EXIT_INVALID;
  }
  const { set } = result;
  process.stdout.write(
    `valid: ${set.policies.length} MeshTrafficPermission, ${set.meshes.length} Mesh, ` +
      `${set.accessRoles.length} AccessRole, ${set.accessRoleBindings.length} AccessRoleBinding ` +
      `in ${result.files.length} file(s)\n`,
  );
  return 0;
}

/** The ConfigMap a file given by path holds; undefined for anything else (loaded as usual). */
async function readConfigMap(path: string): Promise<ReturnType<typeof configMapContent>> {
  const isFile = await stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
  if (!isFile) return undefined;
  const read = await readPolicyFile(path, DEFAULT_MAX_POLICY_FILE_BYTES);
  // Unreadable or too large: loaded as usual, which reports it.
  if (!('bytes' in read)) return undefined;
  return configMapContent(path, Buffer.from(read.bytes).toString('utf8'));
}

function parse(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    allowPositionals: true,
    options: { help: { type: 'boolean', short: 'h' } },
  });
}
