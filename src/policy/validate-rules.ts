/**
 * `spec.rules` of a MeshTrafficPermission (Kuma 2.12+): the CRD schema (types, enums, required
 * `default`) and Kuma 2.14's admission rules for rules and their matches, with Kuma's messages.
 */
import { POLICY_MESSAGES as M } from './errors.js';
import type { LEntry, LMap, LNode } from './parse.js';
import { spiffeIdProblem } from './spiffe-id.js';
import {
  type MtpRule,
  RULE_LISTS,
  type RuleList,
  type RuleMatch,
  SNI_MATCH_TYPES,
  SPIFFE_MATCH_TYPES,
} from './types.js';
import {
  asEnum,
  asMap,
  asSeq,
  checkUnknownFields,
  entry,
  type Findings,
  fieldPath,
  indexPath,
  stringField,
} from './validate-context.js';

const RULE_FIELDS = ['default'] as const;
const MATCH_FIELDS = ['spiffeID', 'sni'] as const;
const MATCHER_FIELDS = ['type', 'value'] as const;

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Validates the `spec.rules` list; returns the rules when none of them has an error. */
export function validateRules(f: Findings, rulesEntry: LEntry): MtpRule[] | undefined {
  const seq = asSeq(f, rulesEntry.value, 'spec.rules');
  if (seq === undefined) return undefined;
  const before = f.schemaErrors.length + f.ruleErrors.length;
  const rules: MtpRule[] = [];
  seq.items.forEach((item, i) => {
    const rule = validateRule(f, item, indexPath('spec.rules', i));
    if (rule !== undefined) rules.push(rule);
  });
  return f.schemaErrors.length + f.ruleErrors.length > before ? undefined : rules;
}

function validateRule(f: Findings, node: LNode, path: string): MtpRule | undefined {
  const map = asMap(f, node, path);
  if (map === undefined) return undefined;
  checkUnknownFields(f, map, path, RULE_FIELDS, 'warning');
  const defaultEntry = entry(map, 'default');
  if (defaultEntry === undefined) {
    f.schema(fieldPath(path, 'default'), map.pos, M.required);
    return undefined;
  }
  const defaultPath = fieldPath(path, 'default');
  const conf = asMap(f, defaultEntry.value, defaultPath);
  if (conf === undefined) return undefined;
  checkUnknownFields(f, conf, defaultPath, RULE_LISTS, 'warning');

  const lists = {} as Record<RuleList, RuleMatch[]>;
  let total = 0;
  for (const list of RULE_LISTS) {
    // Kuma's field paths leave `default` out: `spec.rules[0].allow[0].spiffeID`.
    lists[list] = validateMatches(f, conf, list, fieldPath(path, list));
    total += lists[list].length;
  }
  if (total === 0 && !hasNonEmptyList(conf)) f.rule(path, map.pos, M.ruleListRequired);
  return lists;
}

/** A list present with items counts even when its items had errors (those are reported). */
function hasNonEmptyList(conf: LMap): boolean {
  return RULE_LISTS.some((list) => {
    const e = entry(conf, list);
    return e !== undefined && e.value.kind === 'seq' && e.value.items.length > 0;
  });
}

function validateMatches(f: Findings, conf: LMap, list: RuleList, path: string): RuleMatch[] {
  const e = entry(conf, list);
  if (e === undefined) return [];
  const seq = asSeq(f, e.value, path);
  if (seq === undefined) return [];
  const out: RuleMatch[] = [];
  seq.items.forEach((item, j) => {
    const match = validateMatch(f, item, indexPath(path, j));
    if (match !== undefined) out.push(match);
  });
  return out;
}

function validateMatch(f: Findings, node: LNode, path: string): RuleMatch | undefined {
  const map = asMap(f, node, path);
  if (map === undefined) return undefined;
  checkUnknownFields(f, map, path, MATCH_FIELDS, 'warning');
  const spiffeEntry = entry(map, 'spiffeID');
  const sniEntry = entry(map, 'sni');
  if (spiffeEntry === undefined && sniEntry === undefined) f.warn(path, map.pos, M.matchMatchesNothing);

  const match: { -readonly [K in keyof RuleMatch]: RuleMatch[K] } = {};
  let ok = true;
  if (spiffeEntry !== undefined) {
    const spiffeID = validateSpiffeIdMatch(f, spiffeEntry.value, fieldPath(path, 'spiffeID'));
    if (spiffeID === undefined) ok = false;
    else match.spiffeID = spiffeID;
  }
  if (sniEntry !== undefined) {
    const sni = validateSniMatch(f, sniEntry.value, fieldPath(path, 'sni'));
    if (sni === undefined) ok = false;
    else match.sni = sni;
  }
  return ok ? match : undefined;
}

/** A matcher's `type` (one of `types`) and `value` string, each reported where it is wrong. */
function readMatcher<T extends string>(f: Findings, node: LNode, path: string, types: readonly T[]) {
  const map = asMap(f, node, path);
  if (map === undefined) return undefined;
  checkUnknownFields(f, map, path, MATCHER_FIELDS, 'warning');
  const typeEntry = entry(map, 'type');
  const type = typeEntry && asEnum(f, typeEntry.value, fieldPath(path, 'type'), types);
  if (typeEntry === undefined) f.rule(fieldPath(path, 'type'), map.pos, M.mustBeSet);
  const valueGiven = entry(map, 'value') !== undefined;
  const valueNode = stringField(f, map, 'value', path);
  return { map, type, valueNode, valueGiven };
}

function validateSpiffeIdMatch(f: Findings, node: LNode, path: string): RuleMatch['spiffeID'] {
  const matcher = readMatcher(f, node, path, SPIFFE_MATCH_TYPES);
  if (matcher === undefined) return undefined;
  const { map, type, valueNode } = matcher;
  const value = valueNode?.value ?? '';
  if (valueNode === undefined && matcher.valueGiven) return undefined;

  // Kuma reports a bad value at the matcher itself: `….spiffeID: must be a valid Spiffe ID: …`.
  const problem = spiffeIdProblem(value);
  if (problem !== undefined) f.rule(path, valueNode?.pos ?? map.pos, M.invalidSpiffeId(problem));
  if (type === undefined || problem !== undefined) return undefined;
  if (type === 'Prefix') warnPrefix(f, path, valueNode?.pos ?? map.pos, value);
  return { type, value };
}

/** Every valid Prefix can be extended as raw text; say how, so the operator can judge. */
function warnPrefix(f: Findings, path: string, pos: LMap['pos'], value: string): void {
  const pathStart = value.indexOf('/', 'spiffe://'.length);
  const example = pathStart < 0 ? `${value}.other/any` : `${value}-other`;
  f.warn(fieldPath(path, 'value'), pos, M.prefixNotAtBoundary(value, example));
}

function validateSniMatch(f: Findings, node: LNode, path: string): RuleMatch['sni'] {
  const matcher = readMatcher(f, node, path, SNI_MATCH_TYPES);
  if (matcher === undefined) return undefined;
  const { map, type, valueNode } = matcher;
  const valuePath = fieldPath(path, 'value');
  if (matcher.valueGiven && valueNode === undefined) return undefined;
  const value = valueNode?.value ?? '';
  const pos = valueNode?.pos ?? map.pos;
  let ok = true;
  if (value === '') {
    f.rule(valuePath, pos, M.mustBeSet);
    ok = false;
  } else {
    if (value.length > 253) {
      f.rule(valuePath, pos, M.dns1123SubdomainTooLong);
      ok = false;
    }
    if (!DNS1123_SUBDOMAIN.test(value)) {
      f.rule(valuePath, pos, M.dns1123Subdomain);
      ok = false;
    }
  }
  return ok && type !== undefined ? { type, value } : undefined;
}
