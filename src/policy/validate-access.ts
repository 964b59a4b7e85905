/**
 * AccessRole and AccessRoleBinding bodies (Kong Mesh RBAC). Unknown fields are errors here, not
 * warnings: a misspelt `types` or `when` would silently widen what a role grants.
 */
import { POLICY_MESSAGES as M } from './errors.js';
import type { LEntry, LMap, LNode } from './parse.js';
import {
  ACCESS_KINDS,
  type AccessKind,
  type AccessQualifier,
  type AccessRule,
  type AccessSubject,
  type AccessTargetRef,
} from './types.js';
import {
  asEnum,
  asMap,
  asSeq,
  asString,
  asStringList,
  asStringMap,
  checkUnknownFields,
  entry,
  type Findings,
  fieldPath,
  indexPath,
  stringField,
} from './validate-context.js';

/** Kong Mesh access values that concern other parts of a control plane: accepted, ignored. */
const FOREIGN_ACCESS = ['GENERATE_DATAPLANE_TOKEN', 'GENERATE_ZONE_CP_TOKEN', 'GENERATE_ZONE_TOKEN'] as const;
const ALL_ACCESS = [...ACCESS_KINDS, ...FOREIGN_ACCESS] as const;

const RULE_FIELDS = ['types', 'names', 'mesh', 'access', 'when'] as const;
/** Qualifiers of Kong Mesh's older policies; none of them can match a MeshTrafficPermission. */
const LEGACY_QUALIFIERS = ['sources', 'destinations', 'selectors', 'dpToken'] as const;
const QUALIFIER_FIELDS = ['targetRef', 'from', 'to', ...LEGACY_QUALIFIERS] as const;
const TARGET_REF_FIELDS = ['kind', 'name', 'tags'] as const;
/** targetRef fields RBAC does not compare. */
const IGNORED_TARGET_REF_FIELDS = ['mesh', 'proxyTypes', 'namespace', 'sectionName', 'labels'] as const;
const SUBJECT_FIELDS = ['type', 'name'] as const;
const SUBJECT_TYPES = ['User', 'Group'] as const;

const errorCount = (f: Findings): number => f.schemaErrors.length + f.ruleErrors.length;

/** `body` holds `rules` (the document in the Universal form, `spec` in the Kubernetes form). */
export function validateAccessRoleBody(f: Findings, body: LMap | undefined): AccessRule[] | undefined {
  const before = errorCount(f);
  const rulesEntry = entry(body, 'rules');
  const seq = rulesEntry && asSeq(f, rulesEntry.value, 'rules');
  const rules: AccessRule[] = [];
  seq?.items.forEach((item, i) => {
    const rule = validateRule(f, item, indexPath('rules', i));
    if (rule !== undefined) rules.push(rule);
  });
  return errorCount(f) > before ? undefined : rules;
}

function validateRule(f: Findings, node: LNode, path: string): AccessRule | undefined {
  const map = asMap(f, node, path);
  if (map === undefined) return undefined;
  checkUnknownFields(f, map, path, RULE_FIELDS, 'error');
  const list = (key: string): string[] => {
    const e = entry(map, key);
    return (e && asStringList(f, e.value, fieldPath(path, key)))?.map((s) => s.value) ?? [];
  };
  const mesh = stringField(f, map, 'mesh', path);

  const access: AccessKind[] = [];
  const accessEntry = entry(map, 'access');
  const accessSeq = accessEntry && asSeq(f, accessEntry.value, fieldPath(path, 'access'));
  accessSeq?.items.forEach((item, j) => {
    const value = asEnum(f, item, indexPath(fieldPath(path, 'access'), j), ALL_ACCESS);
    if (value === undefined) return;
    if ((ACCESS_KINDS as readonly string[]).includes(value)) access.push(value as AccessKind);
    else f.warn(indexPath(fieldPath(path, 'access'), j), item.pos, M.accessIgnored(value));
  });

  const whenEntry = entry(map, 'when');
  const whenSeq = whenEntry && asSeq(f, whenEntry.value, fieldPath(path, 'when'));
  const when: AccessQualifier[] = [];
  whenSeq?.items.forEach((item, j) => {
    const qualifier = validateQualifier(f, item, indexPath(fieldPath(path, 'when'), j));
    if (qualifier !== undefined) when.push(qualifier);
  });
  if (whenSeq !== undefined && whenSeq.items.length > 0 && when.length === 0) {
    // Every qualifier was a legacy one (or invalid): the rule can never match, so drop it
    // rather than let an empty `when` mean "no condition".
    f.warn(fieldPath(path, 'when'), whenSeq.pos, M.ruleWithoutUsableQualifier);
    return undefined;
  }

  const rule: { -readonly [K in keyof AccessRule]: AccessRule[K] } = {
    types: list('types'),
    names: list('names'),
    access,
    when,
  };
  if (mesh !== undefined) rule.mesh = mesh.value;
  return rule;
}

/** Returns undefined for qualifiers that can never match a MeshTrafficPermission. */
function validateQualifier(f: Findings, node: LNode, path: string): AccessQualifier | undefined {
  const map = asMap(f, node, path);
  if (map === undefined) return undefined;
  checkUnknownFields(f, map, path, QUALIFIER_FIELDS, 'error');
  let usable = true;
  for (const key of LEGACY_QUALIFIERS) {
    const e = map.entries.get(key);
    if (e === undefined) continue;
    f.warn(fieldPath(path, key), e.keyPos, M.legacyQualifier(key));
    usable = false;
  }

  const qualifier: { -readonly [K in keyof AccessQualifier]: AccessQualifier[K] } = {};
  const targetRef = entry(map, 'targetRef');
  if (targetRef !== undefined)
    qualifier.targetRef = validateTargetRef(f, targetRef.value, fieldPath(path, 'targetRef'));
  for (const side of ['from', 'to'] as const) {
    const e = entry(map, side);
    if (e !== undefined) qualifier[side] = validateSide(f, e, fieldPath(path, side));
  }
  return usable ? qualifier : undefined;
}

function validateSide(f: Findings, e: LEntry, path: string): { targetRef?: AccessTargetRef } {
  const map = asMap(f, e.value, path);
  if (map === undefined) return {};
  checkUnknownFields(f, map, path, ['targetRef'], 'error');
  const targetRef = entry(map, 'targetRef');
  if (targetRef === undefined) return {};
  const ref = validateTargetRef(f, targetRef.value, fieldPath(path, 'targetRef'));
  return ref === undefined ? {} : { targetRef: ref };
}

/** RBAC compares targetRefs by kind, name and tags; any kind string is accepted. */
function validateTargetRef(f: Findings, node: LNode, path: string): AccessTargetRef | undefined {
  const map = asMap(f, node, path);
  if (map === undefined) return undefined;
  checkUnknownFields(f, map, path, [...TARGET_REF_FIELDS, ...IGNORED_TARGET_REF_FIELDS], 'error');
  for (const key of IGNORED_TARGET_REF_FIELDS) {
    const e = map.entries.get(key);
    if (e !== undefined) f.warn(fieldPath(path, key), e.keyPos, M.ignoredInQualifier);
  }
  const kindEntry = entry(map, 'kind');
  if (kindEntry === undefined) f.rule(fieldPath(path, 'kind'), map.pos, M.mustBeDefined);
  const kind = kindEntry && asString(f, kindEntry.value, fieldPath(path, 'kind'));
  if (kind !== undefined && kind.value === '') f.rule(fieldPath(path, 'kind'), kind.pos, M.mustBeDefined);
  const name = stringField(f, map, 'name', path);
  const tagsEntry = entry(map, 'tags');
  const tags = tagsEntry && asStringMap(f, tagsEntry.value, fieldPath(path, 'tags'));
  if (kind === undefined) return undefined;

  const ref: { -readonly [K in keyof AccessTargetRef]: AccessTargetRef[K] } = { kind: kind.value };
  if (name !== undefined && name.value !== '') ref.name = name.value;
  if (tags !== undefined && tags.entries.length > 0) ref.tags = tags.values;
  return ref;
}

export interface BindingBody {
  readonly subjects: AccessSubject[];
  readonly roles: string[];
}

/** `body` holds `subjects` and `roles`. */
export function validateBindingBody(f: Findings, body: LMap | undefined): BindingBody | undefined {
  const before = errorCount(f);
  const subjects: AccessSubject[] = [];
  const subjectsEntry = entry(body, 'subjects');
  const seq = subjectsEntry && asSeq(f, subjectsEntry.value, 'subjects');
  seq?.items.forEach((item, i) => {
    const path = indexPath('subjects', i);
    const map = asMap(f, item, path);
    if (map === undefined) return;
    checkUnknownFields(f, map, path, SUBJECT_FIELDS, 'error');
    const typeEntry = entry(map, 'type');
    if (typeEntry === undefined) f.rule(fieldPath(path, 'type'), map.pos, M.mustBeDefined);
    const type = typeEntry && asEnum(f, typeEntry.value, fieldPath(path, 'type'), SUBJECT_TYPES);
    const name = stringField(f, map, 'name', path);
    if (name === undefined || name.value === '') {
      f.rule(fieldPath(path, 'name'), name?.pos ?? map.pos, M.cannotBeEmpty);
    }
    if (type !== undefined && name !== undefined) subjects.push({ type, name: name.value });
  });

  const roles: string[] = [];
  const rolesEntry = entry(body, 'roles');
  const roleSeq = rolesEntry && asSeq(f, rolesEntry.value, 'roles');
  roleSeq?.items.forEach((item, i) => {
    const role = asString(f, item, indexPath('roles', i));
    if (role?.value === '') f.rule(indexPath('roles', i), role.pos, M.cannotBeEmpty);
    if (role !== undefined) roles.push(role.value);
  });
  return errorCount(f) > before ? undefined : { subjects, roles };
}
