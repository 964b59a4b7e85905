/**
 * MeshTrafficPermission targetRefs (top level and `from[].targetRef`): the CRD schema (types and
 * enums) and Kuma 2.7's rules per kind.
 */
import { POLICY_MESSAGES as M } from './errors.js';
import type { LEntry, LMap, LNode } from './parse.js';
import type { ProxyType, TargetRef, TargetRefKind } from './types.js';
import {
  asEnum,
  asMap,
  asSeq,
  asStringMap,
  checkUnknownFields,
  entry,
  type Findings,
  fieldPath,
  indexPath,
  keyPath,
  type LString,
  type StringMap,
  stringField,
} from './validate-context.js';

/** Kinds the schema accepts; MeshGateway and MeshHTTPRoute then fail Kuma's MTP rules. */
export const SCHEMA_TARGET_REF_KINDS = [
  'Mesh',
  'MeshSubset',
  'MeshGateway',
  'MeshService',
  'MeshServiceSubset',
  'MeshHTTPRoute',
] as const;
/**
 * Dataplane (Kuma 2.10+) is accepted too; the enum message keeps listing the kinds of Kuma 2.7's
 * schema, which is what SPEC §2.2 quotes and operators search for.
 */
type SchemaKind = (typeof SCHEMA_TARGET_REF_KINDS)[number] | 'Dataplane';
const ACCEPTED_KINDS: readonly SchemaKind[] = [...SCHEMA_TARGET_REF_KINDS, 'Dataplane'];

const PROXY_TYPES: readonly ProxyType[] = ['Sidecar', 'Gateway'];
const FIELDS = ['kind', 'name', 'tags', 'mesh', 'proxyTypes'] as const;
const DATAPLANE_FIELDS = [...FIELDS, 'namespace', 'labels', 'sectionName'] as const;

const TARGET_REF_NAME = /^[0-9a-z.\-_]*$/;
const TAG_NAME = /^[a-zA-Z0-9.\-_:/]*$/;
const TAG_VALUE = /^[a-zA-Z0-9.\-_:]*$/;

export type TargetRefPlace = 'top' | 'from';

interface Parts {
  readonly map: LMap;
  readonly kind?: SchemaKind;
  readonly kindEntry?: LEntry;
  readonly name?: LString;
  readonly nameEntry?: LEntry;
  readonly mesh?: LString;
  readonly meshEntry?: LEntry;
  readonly tags?: StringMap;
  readonly tagsEntry?: LEntry;
  readonly proxyTypes?: ProxyType[];
  readonly proxyTypesEntry?: LEntry;
  /** Dataplane only. */
  readonly namespace?: LString;
  readonly labels?: StringMap;
  readonly labelsEntry?: LEntry;
  readonly sectionName?: LString;
}

/** Validates one targetRef; returns it when it has no error of its own. */
export function validateTargetRef(
  f: Findings,
  node: LNode,
  path: string,
  place: TargetRefPlace,
): TargetRef | undefined {
  const parts = readSchema(f, node, path);
  if (parts === undefined) return undefined;
  const before = f.schemaErrors.length + f.ruleErrors.length;
  const kind = checkRules(f, parts, path, place);
  if (kind === undefined || f.schemaErrors.length + f.ruleErrors.length > before) return undefined;

  const ref: { -readonly [K in keyof TargetRef]: TargetRef[K] } = { kind };
  if (kind === 'MeshService' || kind === 'MeshServiceSubset') ref.name = parts.name?.value ?? '';
  if (kind === 'MeshSubset' || kind === 'MeshServiceSubset') ref.tags = parts.tags?.values ?? {};
  if (place === 'top' && (kind === 'Mesh' || kind === 'MeshSubset') && parts.proxyTypes !== undefined) {
    ref.proxyTypes = parts.proxyTypes;
  }
  if (kind === 'Dataplane') {
    if ((parts.name?.value ?? '') !== '') ref.name = parts.name?.value;
    if ((parts.namespace?.value ?? '') !== '') ref.namespace = parts.namespace?.value;
    if (parts.labels !== undefined) ref.labels = parts.labels.values;
    if ((parts.sectionName?.value ?? '') !== '') ref.sectionName = parts.sectionName?.value;
  }
  return ref;
}

/** Types and enums; nothing here depends on the kind. */
function readSchema(f: Findings, node: LNode, path: string): Parts | undefined {
  const map = asMap(f, node, path);
  if (map === undefined) return undefined;

  const kindEntry = entry(map, 'kind');
  const kind = kindEntry && readKind(f, kindEntry.value, fieldPath(path, 'kind'));
  checkUnknownFields(f, map, path, kind === 'Dataplane' ? DATAPLANE_FIELDS : FIELDS, 'warning');
  const nameEntry = entry(map, 'name');
  const meshEntry = entry(map, 'mesh');
  const tagsEntry = entry(map, 'tags');
  const proxyTypesEntry = entry(map, 'proxyTypes');

  let proxyTypes: ProxyType[] | undefined;
  if (proxyTypesEntry !== undefined) {
    const seqPath = fieldPath(path, 'proxyTypes');
    const seq = asSeq(f, proxyTypesEntry.value, seqPath);
    if (seq !== undefined) {
      proxyTypes = [];
      seq.items.forEach((item, j) => {
        const value = asEnum(f, item, indexPath(seqPath, j), PROXY_TYPES);
        if (value !== undefined) proxyTypes?.push(value);
      });
    }
  }
  return {
    map,
    kind,
    kindEntry,
    name: stringField(f, map, 'name', path),
    nameEntry,
    mesh: stringField(f, map, 'mesh', path),
    meshEntry,
    tags: tagsEntry && asStringMap(f, tagsEntry.value, fieldPath(path, 'tags')),
    tagsEntry,
    proxyTypes,
    proxyTypesEntry,
    ...(kind === 'Dataplane' ? readDataplaneFields(f, map, path) : {}),
  };
}

function readKind(f: Findings, node: LNode, path: string): SchemaKind | undefined {
  if (node.kind === 'scalar' && node.value === 'Dataplane') return 'Dataplane';
  return asEnum(
    f,
    node,
    path,
    ACCEPTED_KINDS.filter((k) => k !== 'Dataplane'),
  );
}

function readDataplaneFields(f: Findings, map: LMap, path: string): Partial<Parts> {
  const labelsEntry = entry(map, 'labels');
  return {
    namespace: stringField(f, map, 'namespace', path),
    labels: labelsEntry && asStringMap(f, labelsEntry.value, fieldPath(path, 'labels')),
    labelsEntry,
    sectionName: stringField(f, map, 'sectionName', path),
  };
}

/** Kuma's per-kind rules. Returns the kind when it is one MeshTrafficPermission supports. */
function checkRules(f: Findings, p: Parts, path: string, place: TargetRefPlace): TargetRefKind | undefined {
  const at = (field: string): string => fieldPath(path, field);
  if (p.kindEntry === undefined) {
    f.rule(at('kind'), p.map.pos, M.mustBeDefined);
    return undefined;
  }
  const kind = p.kind;
  if (kind === undefined) return undefined;
  if (kind === 'MeshGateway' || kind === 'MeshHTTPRoute' || (kind === 'Dataplane' && place === 'from')) {
    f.rule(at('kind'), p.kindEntry.value.pos, M.valueNotSupported);
    return undefined;
  }

  const nameSet = (p.name?.value ?? '') !== '';
  const tagsSet = (p.tags?.entries.length ?? 0) > 0;
  const proxyTypesSet = (p.proxyTypes?.length ?? 0) > 0;
  const mustNotBeSet = (field: string, e: LEntry | undefined): void => {
    if (e !== undefined) f.rule(at(field), e.keyPos, M.mustNotBeSetWithKind(kind));
  };
  const checkName = (): void => {
    if (p.name !== undefined && !TARGET_REF_NAME.test(p.name.value)) {
      f.rule(at('name'), p.name.pos, M.targetRefNameChars);
    }
  };

  if ((p.mesh?.value ?? '') !== '') mustNotBeSet('mesh', p.meshEntry);
  switch (kind) {
    case 'Mesh':
      if (nameSet) f.rule(at('name'), p.nameEntry?.keyPos ?? p.map.pos, M.meshNameNotSupported);
      if (tagsSet) mustNotBeSet('tags', p.tagsEntry);
      break;
    case 'MeshSubset':
      if (nameSet) mustNotBeSet('name', p.nameEntry);
      if (p.tags !== undefined) checkTags(f, p.tags, at('tags'));
      break;
    case 'MeshService':
      checkName();
      if (tagsSet) mustNotBeSet('tags', p.tagsEntry);
      if (proxyTypesSet) mustNotBeSet('proxyTypes', p.proxyTypesEntry);
      if (!nameSet) f.rule(at('name'), p.nameEntry?.value.pos ?? p.map.pos, M.mustBeSetWithKind(kind));
      break;
    case 'Dataplane':
      // Kuma 2.14: name/namespace or labels select proxies, sectionName one of their inbounds.
      if (tagsSet) mustNotBeSet('tags', p.tagsEntry);
      if (proxyTypesSet) mustNotBeSet('proxyTypes', p.proxyTypesEntry);
      if (
        (p.labels?.entries.length ?? 0) > 0 &&
        (nameSet || (p.namespace?.value ?? '') !== '') &&
        p.labelsEntry !== undefined
      ) {
        f.rule(at('labels'), p.labelsEntry.keyPos, M.labelsOrNameAndNamespace);
      }
      break;
    case 'MeshServiceSubset':
      if (!nameSet) f.rule(at('name'), p.nameEntry?.value.pos ?? p.map.pos, M.mustBeSetWithKind(kind));
      checkName();
      if (proxyTypesSet) mustNotBeSet('proxyTypes', p.proxyTypesEntry);
      if (p.tags !== undefined) checkTags(f, p.tags, at('tags'));
      break;
  }
  if (place === 'from' && proxyTypesSet && (kind === 'Mesh' || kind === 'MeshSubset')) {
    f.warn(at('proxyTypes'), p.proxyTypesEntry?.keyPos ?? p.map.pos, M.ignoredInFrom);
  }
  if (place === 'from' && kind === 'MeshService') {
    f.warn(at('kind'), p.kindEntry.value.pos, M.meshServiceFromDeprecated);
  }
  return kind;
}

/** Kuma's tag rules, keys in sorted order. */
function checkTags(f: Findings, tags: StringMap, path: string): void {
  const sorted = [...tags.entries].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const e of sorted) {
    if (e.key === '') f.rule(path, e.keyPos, M.tagNameEmpty);
    if (!TAG_NAME.test(e.key)) f.rule(keyPath(path, e.key), e.keyPos, M.tagNameChars);
    const value = tags.values[e.key];
    if (value === undefined) continue;
    if (value === '') f.rule(keyPath(path, e.key), e.value.pos, M.tagValueEmpty);
    else if (!TAG_VALUE.test(value)) f.rule(keyPath(path, e.key), e.value.pos, M.tagValueChars);
  }
}
