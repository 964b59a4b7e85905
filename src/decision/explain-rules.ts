/**
 * The "why" of a decision made by `spec.rules` policies: which policies were evaluated, which
 * from policies were ignored and why, every match in the order of precedence, and which decided.
 */
import type { CompiledRule, RulesProgram } from './rules.js';
import { type Client, type Decision, RULE_LISTS, type RuleList, type RuleMatch } from './types.js';

const ACTION: Record<RuleList, string> = {
  deny: 'Deny',
  allowWithShadowDeny: 'AllowWithShadowDeny',
  allow: 'Allow',
};

/** "from-policies ignored: rules policy X selects this inbound" (naming every rules policy). */
export function ignoredReason(rules: RulesProgram): string {
  const names = rules.policies.join(', ');
  return `from-policies ignored: rules ${rules.policies.length === 1 ? 'policy' : 'policies'} ${names} ${rules.policies.length === 1 ? 'selects' : 'select'} this inbound`;
}

export function describeMatch(match: RuleMatch): string {
  const parts: string[] = [];
  if (match.spiffeID !== undefined) parts.push(`spiffeID ${match.spiffeID.type} ${match.spiffeID.value}`);
  if (match.sni !== undefined) parts.push(`sni ${match.sni.type} ${match.sni.value}`);
  return parts.length === 0 ? 'nothing (neither spiffeID nor sni)' : parts.join(' and ');
}

/** The lines after the header of `explain`'s text for a rules inbound. */
export function describeRules(rules: RulesProgram, decision: Decision, client: Client): string[] {
  const lines: string[] = [];
  if (client.kind === 'identity') {
    lines.push(`Client SANs: ${JSON.stringify(client.identity.sans.join(','))} (what spiffeID matches read)`);
  }
  lines.push('', 'Selected rules policies (least specific first):');
  rules.policies.forEach((name, i) => lines.push(`  ${i + 1}. ${name}`));
  if (rules.ignoredFromPolicies.length > 0) {
    lines.push('', `Ignored (${ignoredReason(rules)}):`);
    for (const name of rules.ignoredFromPolicies) lines.push(`  - ${name}`);
  }
  lines.push('', 'Matches (any deny wins, then allowWithShadowDeny, then allow):');
  const rows: { where: string; action: string; what: string; decided: boolean }[] = [];
  for (const list of RULE_LISTS) {
    for (const rule of rules.rules) {
      rule[list].forEach((match, index) => {
        rows.push({
          where: `${rule.policy} rules[${rule.ruleIndex}].${list}[${index}]`,
          action: ACTION[list],
          what: describeMatch(match),
          decided: isDecider(decision, rule, list, index),
        });
      });
    }
  }
  const width = Math.max(0, ...rows.map((r) => r.where.length));
  rows.forEach((row, i) => {
    const marker = row.decided ? '  <- decided' : '';
    lines.push(
      `  ${String(i + 1).padStart(3)}. ${row.where.padEnd(width)}  ${row.action.padEnd(19)} ${row.what}${marker}`,
    );
  });
  lines.push('');
  const by = decision.decidedBy;
  if (by === null || !('ruleIndex' in by)) lines.push('Decided by:  nothing (no match applied)');
  else lines.push(`Decided by:  ${by.policy} rules[${by.ruleIndex}].${by.match.list}[${by.match.index}]`);
  return lines;
}

function isDecider(decision: Decision, rule: CompiledRule, list: RuleList, index: number): boolean {
  const by = decision.decidedBy;
  return (
    by !== null &&
    'ruleIndex' in by &&
    by.policy === rule.policy &&
    by.ruleIndex === rule.ruleIndex &&
    by.match.list === list &&
    by.match.index === index
  );
}
