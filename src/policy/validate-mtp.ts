/** The `spec` of a MeshTrafficPermission: Kuma 2.7's classic `targetRef` + `from` API. */
import { POLICY_MESSAGES as M } from '../errors.js';
import type { LEntry, LMap, Pos } from './parse.js';
import { ACTIONS, type Action, type FromEntry, type TargetRef } from './types.js';
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
import { validateTargetRef } from './validate-target-ref.js';

const SPEC_FIELDS = ['targetRef', 'from'] as const;
const FROM_FIELDS = ['targetRef', 'default'] as const;
const DEFAULT_FIELDS = ['action'] as const;

const MESH_TARGET_REF: TargetRef = { kind: 'Mesh' };

export interface MtpSpec {
  readonly targetRef: TargetRef;
  readonly from: FromEntry[];
}

/**
 * Validates `spec` (absent → `{}`), reporting at `pos` what is missing from it.
 * Returns the typed spec when no error was found in it.
 */
export function validateMtpSpec(f: Findings, specEntry: LEntry | undefined, pos: Pos): MtpSpec | undefined {
  const spec = specEntry === undefined ? undefined : asMap(f, specEntry.value, 'spec');
  if (specEntry !== undefined && spec === undefined) return undefined;
  const before = f.schemaErrors.length + f.ruleErrors.length;

  if (spec !== undefined) {
    checkUnknownFields(f, spec, 'spec', [...SPEC_FIELDS, 'rules'], 'warning');
    const rules = spec.entries.get('rules');
    if (rules !== undefined) f.schema('spec.rules', rules.keyPos, M.rulesNotSupported);
  }

  const targetRefEntry = entry(spec, 'targetRef');
  const targetRef =
    targetRefEntry === undefined
      ? MESH_TARGET_REF
      : validateTargetRef(f, targetRefEntry.value, 'spec.targetRef', 'top');

  const from = validateFrom(f, spec, spec?.pos ?? pos);
  if (f.schemaErrors.length + f.ruleErrors.length > before || targetRef === undefined || from === undefined) {
    return undefined;
  }
  return { targetRef, from };
}

function validateFrom(f: Findings, spec: LMap | undefined, specPos: Pos): FromEntry[] | undefined {
  const fromEntry = entry(spec, 'from');
  if (fromEntry === undefined) {
    f.rule('spec.from', specPos, M.needsAtLeastOneItem);
    return undefined;
  }
  const seq = asSeq(f, fromEntry.value, 'spec.from');
  if (seq === undefined) return undefined;
  if (seq.items.length === 0) f.rule('spec.from', seq.pos, M.needsAtLeastOneItem);

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
    f.rule(path, parentPos, M.mustBeDefined);
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
