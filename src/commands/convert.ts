/**
 * `mtp-authz convert --to rules FILE...`: prints the `spec.rules` policies equivalent to the
 * `spec.from` policies of FILEs (Universal form, YAML), and says per policy or entry where no exact
 * translation exists. Exit 0 when every policy converted and the set answers alike; 1 otherwise
 * (invalid policies included); 2 for bad usage.
 */
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { toUniversal } from '../admin/resources.js';
import { formatIssue } from '../policy/errors.js';
import { type Conversion, convertToRules } from '../policy/convert-rules.js';
import { loadPolicies } from '../policy/load.js';

export const CONVERT_USAGE = `Usage: mtp-authz convert --to rules FILE...

Prints spec.rules policies equivalent to the spec.from policies of FILEs, for clients whose
certificate holds one URI SAN, spiffe://<mesh>/<service>; says why where there is no exact translation.
`;

export class ConvertUsageError extends Error {}

export async function convertCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: { to: { type: 'string' } },
    allowPositionals: true,
  });
  if (values.to !== 'rules') throw new ConvertUsageError('convert needs --to rules');
  if (positionals.length === 0) throw new ConvertUsageError('convert needs at least one FILE');
  const result = await loadPolicies(positionals);
  if (!result.ok) {
    for (const error of result.errors) process.stderr.write(`${formatIssue(error)}\n`);
    return 1;
  }
  const conversion = convertToRules(result.set);
  process.stdout.write(render(conversion));
  return conversion.notConverted.length === 0 && conversion.mismatches.length === 0 ? 0 : 1;
}

export function render(conversion: Conversion): string {
  const lines: string[] = [
    '# spec.rules equivalents: exact for clients whose certificate holds one URI SAN,',
    '# spiffe://<mesh>/<service>. A certificate with more SANs (kuma:// tags) matches no Exact value.',
  ];
  for (const note of conversion.kept) lines.push(`# kept as it is: ${note.policy}: ${note.message}`);
  for (const note of conversion.notConverted) {
    lines.push(`# not converted: ${note.policy}${note.where ? ` ${note.where}` : ''}: ${note.message}`);
  }
  for (const note of conversion.caveats) lines.push(`# caveat: ${note.policy}: ${note.message}`);
  for (const mismatch of conversion.mismatches) lines.push(`# NOT EQUIVALENT as a set: ${mismatch}`);
  const documents = conversion.converted.map((policy) =>
    stringify(toUniversal(policy), { aliasDuplicateObjects: false, lineWidth: 0 }),
  );
  return `${lines.join('\n')}\n${documents.map((d) => `---\n${d}`).join('')}`;
}
