/**
 * "Why was this allowed or denied?": the decision plus the ordered policies and the joined from
 * list, as the JSON of SPEC §4 (shared by `mtp-authz explain` and `POST /explain`) or as text.
 */
import { decide } from './decide.js';
import type { RulesProgram } from './rules.js';
import type { CompiledEntry, DecisionTable } from './table.js';
import type { Client, Decision, Destination, RuleDecidedBy } from './types.js';
import { describeRules, ignoredReason } from './explain-rules.js';

export interface ExplainJson {
  readonly action: Decision['action'];
  readonly via: Decision['via'];
  /** SPEC §4: `{policy, fromIndex}`, or `{policy, ruleIndex}` for a rules policy; null when nothing decided. */
  readonly decidedBy:
    | { readonly policy: string; readonly fromIndex: number }
    | { readonly policy: string; readonly ruleIndex: number }
    | null;
  readonly policies: readonly string[];
  /** For a rules policy's decision: which list and item of the rule matched, and on what. */
  readonly match?: RuleDecidedBy['match'];
  /** Only for an inbound selected by a rules policy that from policies select too. */
  readonly ignoredPolicies?: { readonly policies: readonly string[]; readonly reason: string };
}

export interface Explanation {
  readonly decision: Decision;
  readonly destination: Destination | undefined;
  readonly client: Client;
  readonly mtls: string;
  /** The joined from list the decision was made on (empty before policy selection). */
  readonly entries: readonly CompiledEntry[];
  /** Set when rules policies decided the inbound (Kuma 2.12+). */
  readonly rules?: RulesProgram;
}

export function explain(
  table: DecisionTable,
  destination: Destination | undefined,
  client: Client,
): Explanation {
  const decision = decide(table, destination, client);
  const mtls = destination === undefined ? 'unknown' : table.mtlsOf(destination.mesh);
  const program =
    decision.policies.length > 0 && destination !== undefined ? table.program(destination) : undefined;
  const rules = program?.rules;
  return {
    decision,
    destination,
    client,
    mtls,
    entries: program?.entries ?? [],
    ...(rules ? { rules } : {}),
  };
}

export function explainJson(decision: Decision, rules?: RulesProgram): ExplainJson {
  const by = decision.decidedBy;
  const json: ExplainJson = {
    action: decision.action,
    via: decision.via,
    decidedBy:
      by === null
        ? null
        : by.fromIndex === undefined
          ? { policy: by.policy, ruleIndex: by.ruleIndex }
          : { policy: by.policy, fromIndex: by.fromIndex },
    policies: decision.policies,
    ...(by !== null && by.fromIndex === undefined ? { match: by.match } : {}),
  };
  const ignored = rules?.ignoredFromPolicies ?? [];
  if (rules === undefined || ignored.length === 0) return json;
  return { ...json, ignoredPolicies: { policies: ignored, reason: ignoredReason(rules) } };
}

const VIA_TEXT: Record<Decision['via'], string> = {
  rule: 'decided by a from entry',
  'no-matching-from': 'no from entry covers the client: implicit deny',
  'no-matching-rule': 'no match of any rule covers the client: implicit deny',
  'no-policy': 'no MeshTrafficPermission selects this inbound: implicit deny',
  'mtls-disabled': 'mTLS is disabled on the mesh: traffic permissions are not enforced',
  'permissive-plaintext': 'mTLS is PERMISSIVE and the client sent no certificate',
  'no-identity': 'mTLS is STRICT and the client presented no identity',
  'mesh-mismatch': "the client's SPIFFE trust domain is another mesh",
  'invalid-identity': 'the client presented no valid workload identity (see Client)',
  'no-destination': 'the destination inbound could not be determined',
  'identity-too-complex':
    "the client's tag values combine with these policies in more ways than one decision may examine",
};

export function explainText(explanation: Explanation): string {
  const { decision, destination, client } = explanation;
  const lines: string[] = [];
  const viaText =
    explanation.rules !== undefined && decision.via === 'rule' ? 'decided by a rule' : VIA_TEXT[decision.via];
  lines.push(`Decision:    ${decision.action} (${decision.via}: ${viaText})`);
  lines.push(
    `Destination: ${destination === undefined ? '(none)' : `mesh ${destination.mesh}, ${formatTags(destination.tags)}`}`,
  );
  lines.push(`Client:      ${describeClient(client)}`);
  lines.push(`Mesh mTLS:   ${explanation.mtls}`);
  if (explanation.rules !== undefined) {
    lines.push(...describeRules(explanation.rules, decision, client));
    return `${lines.join('\n')}\n`;
  }
  if (decision.policies.length > 0) {
    lines.push('', 'Selected policies (least specific first; a later entry overrides an earlier one):');
    decision.policies.forEach((name, i) => {
      lines.push(`  ${i + 1}. ${name}`);
    });
    lines.push('', 'Joined from list:');
    const width = Math.max(...explanation.entries.map((e) => `${e.policy}[${e.fromIndex}]`.length));
    explanation.entries.forEach((entry, i) => {
      const marker = isDecider(entry, decision) ? '  <- decided' : '';
      const where = `${entry.policy}[${entry.fromIndex}]`.padEnd(width);
      lines.push(
        `  ${String(i + 1).padStart(3)}. ${where}  ${entry.action.padEnd(19)} ${describeEntry(entry)}${marker}`,
      );
    });
  }
  lines.push('');
  lines.push(
    decision.decidedBy === null
      ? 'Decided by:  nothing (no entry applied)'
      : `Decided by:  ${decision.decidedBy.policy} from[${decision.decidedBy.fromIndex}]`,
  );
  return `${lines.join('\n')}\n`;
}

function isDecider(entry: CompiledEntry, decision: Decision): boolean {
  return decision.decidedBy?.policy === entry.policy && decision.decidedBy.fromIndex === entry.fromIndex;
}

function describeEntry(entry: CompiledEntry): string {
  if (entry.keys.length === 0) return 'every client (Mesh)';
  return entry.keys.map((k, i) => `${k}=${entry.values[i]}`).join(', ');
}

export function describeClient(client: Client): string {
  if (client.kind === 'none') return '(plaintext: no certificate, no principal)';
  if (client.kind === 'invalid') return `(invalid: ${client.reason})`;
  const tags: string[] = [];
  for (const [key, values] of client.identity.tags) for (const v of values) tags.push(`${key}=${v}`);
  return `mesh ${client.identity.mesh}, ${tags.join(', ')}`;
}

function formatTags(tags: ReadonlyMap<string, string>): string {
  return [...tags].map(([k, v]) => `${k}=${v}`).join(', ');
}
