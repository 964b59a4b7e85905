/**
 * The `spec` of a MeshTrafficPermission: Kuma 2.7's classic `targetRef` + `from` API, or Kuma
 * 2.12+'s `rules` (validate-rules.ts); never both in one policy.
 */
import { POLICY_MESSAGES as M } from './errors.js';
import type { LEntry, LMap, Pos } from './parse.js';
import { ACTIONS, type Action, type FromEntry, type MtpRule, type TargetRef } from './types.js';
import {
  asEnum,
  asMap,
  asSeq,
  checkUnknownFields,
  entry,
  type Findings,
  fieldPath,
  indexPath,
} from './validate-context.js';
import { validateRules } from './validate-rules.js';
import { validateTargetRef } from './validate-target-ref.js';

const SPEC_FIELDS = ['targetRef', 'from', 'rules'] as const;
const FROM_FIELDS = ['targetRef', 'default'] as const;
const DEFAULT_FIELDS = ['action'] as const;

const MESH_TARGET_REF: TargetRef = { kind: 'Mesh' };

export interface MtpSpec {
  readonly targetRef: TargetRef;
  readonly from: FromEntry[];
  /** Set only for a policy written with `spec.rules`. */
  readonly rules?: MtpRule[];
}

/**
 * Validates `spec` (absent → `{}`), reporting at `pos` what is missing from it.
 * Returns the typed spec when no error was found in it.
 */
export function validateMtpSpec(f: Findings, specEntry: LEntry | undefined, pos: Pos): MtpSpec | undefined {
  const spec = specEntry === undefined ? undefined : asMap(f, specEntry.value, 'spec');
  if (specEntry !== undefined && spec === undefined) return undefined;
  const before = f.schemaErrors.length + f.ruleErrors.length;

  if (spec !== undefined) checkUnknownFields(f, spec, 'spec', SPEC_FIELDS, 'warning');
  const specPos = spec?.pos ?? pos;

  const targetRefEntry = entry(spec, 'targetRef');
  const targetRef =
    targetRefEntry === undefined
      ? MESH_TARGET_REF
      : validateTargetRef(f, targetRefEntry.value, 'spec.targetRef', 'top');

  const rulesEntry = entry(spec, 'rules');
  const rulesWritten = rulesEntry?.value.kind === 'seq' && rulesEntry.value.items.length > 0;
  const fromNode = entry(spec, 'from')?.value;
  const fromWritten = fromNode?.kind === 'seq' && fromNode.items.length > 0;
  if (!rulesWritten && !fromWritten && targetRef?.sectionName !== undefined && targetRefEntry !== undefined) {
    // Only inbound policies (those with from or rules) may pick an inbound by section name.
    f.rule('spec.targetRef.sectionName', sectionNamePos(targetRefEntry), M.sectionNameInboundOnly);
  }
  if (rulesEntry === undefined) {
    const from = validateFrom(f, spec, specPos, true);
    if (failed(f, before) || targetRef === undefined || from === undefined) return undefined;
    return { targetRef, from };
  }

  // The Kuma 2.14 API: `rules`, with `from` allowed only when empty.
  const rules = validateRules(f, rulesEntry);
  const from = validateFrom(f, spec, specPos, false);
  if (rulesWritten && fromWritten) f.rule('spec', rulesEntry.keyPos, M.fromAndRules);
  if (!rulesWritten && !fromWritten && rulesEntry.value.kind === 'seq') {
    f.rule('spec', specPos, M.fromOrRulesRequired);
  }
  if (failed(f, before) || targetRef === undefined || from === undefined || rules === undefined) {
    return undefined;
  }
  return rulesWritten ? { targetRef, from: [], rules } : { targetRef, from };
}

function sectionNamePos(targetRef: LEntry): Pos {
  const node = targetRef.value;
  return (node.kind === 'map' ? node.entries.get('sectionName')?.keyPos : undefined) ?? node.pos;
}

function failed(f: Findings, before: number): boolean {
  return f.schemaErrors.length + f.ruleErrors.length > before;
}

/** `required`: the classic API, where an absent or empty `from` is an error of its own. */
function validateFrom(
  f: Findings,
  spec: LMap | undefined,
  specPos: Pos,
  required: boolean,
): FromEntry[] | undefined {
  const fromEntry = entry(spec, 'from');
  if (fromEntry === undefined) {
    if (!required) return [];
    f.rule('spec.from', specPos, M.needsAtLeastOneItem);
    return undefined;
  }
  const seq = asSeq(f, fromEntry.value, 'spec.from');
  if (seq === undefined) return undefined;
  if (seq.items.length === 0 && required) f.rule('spec.from', seq.pos, M.needsAtLeastOneItem);

  const out: FromEntry[] = [];
  seq.items.forEach((item, i) => {
    const path = indexPath('spec.from', i);
    const map = asMap(f, item, path);
    if (map === undefined) return;
    checkUnknownFields(f, map, path, FROM_FIELDS, 'warning');

    const targetRefEntry = entry(map, 'targetRef');
    let targetRef: TargetRef | undefined;
    if (targetRefEntry === undefined) f.schema(fieldPath(path, 'targetRef'), map.pos, M.required);
    else targetRef = validateTargetRef(f, targetRefEntry.value, fieldPath(path, 'targetRef'), 'from');

    const action = validateDefault(f, entry(map, 'default'), map.pos, fieldPath(path, 'default'));
    if (targetRef !== undefined && action !== undefined) out.push({ targetRef, action });
  });
  return out.length === seq.items.length ? out : undefined;
}

function validateDefault(
  f: Findings,
  e: LEntry | undefined,
  parentPos: Pos,
  path: string,
): Action | undefined {
  if (e === undefined) {
    // Kuma reports the missing action, not the missing `default` around it.
    f.rule(fieldPath(path, 'action'), parentPos, M.mustBeDefined);
    return undefined;
  }
  const map = asMap(f, e.value, path);
  if (map === undefined) return undefined;
  checkUnknownFields(f, map, path, DEFAULT_FIELDS, 'warning');
  const action = entry(map, 'action');
  if (action === undefined) {
    f.rule(fieldPath(path, 'action'), map.pos, M.mustBeDefined);
    return undefined;
  }
  return asEnum(f, action.value, fieldPath(path, 'action'), ACTIONS);
}
