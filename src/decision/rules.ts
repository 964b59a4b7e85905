/**
 * Kuma 2.12+ `spec.rules` on the hot path. Kuma's Envoy config puts every deny match of every
 * selected rules policy before every allow match, so whatever the policies' order: any deny match
 * denies; else an allowWithShadowDeny match allows with a shadow deny; else an allow match allows;
 * else the request is denied. A spiffeID match reads the client's URI SANs joined with `,` (Envoy's
 * URI-SAN input): Exact compares the whole text, Prefix is a plain string prefix.
 */
import type {
  Action,
  ClientIdentity,
  DecidedBy,
  Decision,
  Destination,
  RuleDecidedBy,
  RuleList,
  RuleMatch,
} from './types.js';

/** One rule of one policy: `spec.rules[ruleIndex].default`. */
export interface CompiledRule {
  readonly policy: string;
  readonly ruleIndex: number;
  readonly deny: readonly RuleMatch[];
  readonly allowWithShadowDeny: readonly RuleMatch[];
  readonly allow: readonly RuleMatch[];
}

/** What an inbound selected by at least one rules policy evaluates. */
export interface RulesProgram {
  /** The selected rules policies' rules, policies least specific first, rules in document order. */
  readonly rules: readonly CompiledRule[];
  /** Names of the selected rules policies, in that order. */
  readonly policies: readonly string[];
  /** The `from` policies that also select this inbound and are ignored (Kuma 2.14). */
  readonly ignoredFromPolicies: readonly string[];
  /** The answer each deciding match gives, made once. */
  decisions?: Map<RuleMatch, Decision>;
  noMatch?: Decision;
  /** Per list, in precedence order: built on first use. */
  index?: readonly ListIndex[];
}

/** One match at its place: `order` counts matches of one list across the policies and rules. */
interface Hit {
  readonly order: number;
  readonly rule: CompiledRule;
  readonly index: number;
  readonly match: RuleMatch;
}

/** A list of every selected rule: plain Exact SPIFFE IDs by value (first place wins), the rest in order. */
interface ListIndex {
  readonly list: RuleList;
  readonly action: Action;
  readonly exact: ReadonlyMap<string, Hit>;
  readonly others: readonly Hit[];
}

/** Lists in the order they take precedence. */
const PRECEDENCE: readonly (readonly [RuleList, Action])[] = [
  ['deny', 'Deny'],
  ['allowWithShadowDeny', 'AllowWithShadowDeny'],
  ['allow', 'Allow'],
];

export function decideRules(
  program: RulesProgram,
  identity: ClientIdentity,
  destination: Destination,
): Decision {
  const sans = identity.sans;
  const subject = sans.length === 1 ? (sans[0] as string) : sans.join(',');
  const sni = destination.sni;
  program.index ??= buildIndex(program.rules);
  for (const { list, action, exact, others } of program.index) {
    let best = exact.get(subject);
    for (const hit of others) {
      // Scanned in order: past the Exact hit's place nothing can come first any more.
      if (best !== undefined && hit.order > best.order) break;
      if (matchesClient(hit.match, subject, sni)) {
        best = hit;
        break;
      }
    }
    if (best !== undefined) return ruled(program, best.rule, list, best.index, best.match, action);
  }
  program.noMatch ??= Object.freeze({
    action: 'Deny',
    via: 'no-matching-rule',
    decidedBy: null,
    policies: program.policies,
  });
  return program.noMatch;
}

function buildIndex(rules: readonly CompiledRule[]): ListIndex[] {
  return PRECEDENCE.map(([list, action]) => {
    const exact = new Map<string, Hit>();
    const others: Hit[] = [];
    let order = 0;
    for (const rule of rules) {
      rule[list].forEach((match, index) => {
        const hit: Hit = { order: order++, rule, index, match };
        if (match.spiffeID?.type === 'Exact' && match.sni === undefined) {
          if (!exact.has(match.spiffeID.value)) exact.set(match.spiffeID.value, hit);
        } else others.push(hit);
      });
    }
    return { list, action, exact, others };
  });
}

/** Both parts of a match must hold; a match with neither part matches nothing (as in Kuma). */
export function matchesClient(match: RuleMatch, subject: string, sni: string | undefined): boolean {
  const { spiffeID } = match;
  if (spiffeID === undefined && match.sni === undefined) return false;
  if (spiffeID !== undefined) {
    const ok = spiffeID.type === 'Exact' ? subject === spiffeID.value : subject.startsWith(spiffeID.value);
    if (!ok) return false;
  }
  return match.sni === undefined || sni === match.sni.value;
}

function ruled(
  program: RulesProgram,
  rule: CompiledRule,
  list: RuleList,
  index: number,
  match: RuleMatch,
  action: Action,
): Decision {
  program.decisions ??= new Map();
  let decision = program.decisions.get(match);
  if (decision === undefined) {
    const decidedBy: RuleDecidedBy = {
      policy: rule.policy,
      ruleIndex: rule.ruleIndex,
      match: { list, index, ...match },
    };
    decision = Object.freeze({ action, via: 'rule', decidedBy, policies: program.policies });
    program.decisions.set(match, decision);
  }
  return decision;
}

/** The rule index of a decision made by a rules policy (undefined for a from entry or none). */
export function ruleIndexOf(decidedBy: DecidedBy | null): number | undefined {
  return decidedBy !== null && 'ruleIndex' in decidedBy ? decidedBy.ruleIndex : undefined;
}
