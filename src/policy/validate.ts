/**
 * One parsed document → one typed resource, or every violation found in it. Both forms are read
 * into the same logical shape, so field paths are the same for both (`name`, `labels["k"]`,
 * `spec.from[0]...`, `mtls.enabledBackend`, `rules[0]...`) while positions point at the real nodes.
 */
import { POLICY_MESSAGES as M } from './errors.js';
import type { LEntry, LMap, ParsedDocument, Pos } from './parse.js';
import {
  DEFAULT_MESH,
  MESH_LABEL,
  type PolicyIssue,
  type Resource,
  type ResourceForm,
  type ResourceType,
  type SourceLocation,
} from './types.js';
import { validateAccessRoleBody, validateBindingBody } from './validate-access.js';
import {
  asEnum,
  asMap,
  asStringMap,
  checkUnknownFields,
  entry,
  Findings,
  keyPath,
  type LString,
  type StringMap,
  stringField,
} from './validate-context.js';
import { checkLabels, checkMeshName, checkResourceName } from './validate-labels.js';
import { validateMeshBody } from './validate-mesh.js';
import { validateMtpSpec } from './validate-mtp.js';

export const DOCUMENT_TYPES: readonly ResourceType[] = [
  'MeshTrafficPermission',
  'Mesh',
  'AccessRole',
  'AccessRoleBinding',
];
export const KUBERNETES_API_VERSION = 'kuma.io/v1alpha1';

/** Fields `kumactl get -o yaml` prints on every Universal resource. */
const UNIVERSAL_META = ['type', 'name', 'mesh', 'labels', 'creationTime', 'modificationTime'] as const;
const KUBERNETES_TOP = ['apiVersion', 'kind', 'metadata', 'spec', 'status'] as const;
/** Fields of each type's body (the Universal document itself, or the Kubernetes `spec`). */
const BODY_FIELDS: Record<Exclude<ResourceType, 'Mesh' | 'MeshTrafficPermission'>, readonly string[]> = {
  AccessRole: ['rules'],
  AccessRoleBinding: ['subjects', 'roles'],
};

export interface DocumentResult {
  /** Set only when the document has no error. */
  readonly resource?: Resource;
  readonly errors: PolicyIssue[];
  readonly warnings: PolicyIssue[];
  /** Where the resource's name is written (for duplicate-name errors). */
  readonly namePos: Pos;
}

interface Header {
  readonly form: ResourceForm;
  readonly type: ResourceType;
  readonly name?: LString;
  readonly namePos: Pos;
  readonly labels?: StringMap;
  /** Kubernetes form: `metadata.namespace`. */
  readonly namespace?: string;
  /** The mesh as written: Universal `mesh`, or Kubernetes label `kuma.io/mesh`. */
  readonly mesh?: { readonly value: string; readonly pos: Pos; readonly path: string };
  readonly meshEntry?: LEntry;
  /** Holds the type's own fields: the document (Universal) or its `spec` (Kubernetes). */
  readonly body?: LMap;
  readonly root: LMap;
}

export function validateDocument(doc: ParsedDocument): DocumentResult {
  const f = new Findings(doc.file);
  const root = asMap(f, doc.root, 'document');
  const header = root && readHeader(f, root);
  const resource = header && readResource(f, header, { file: doc.file, ...doc.root.pos });
  const errors = f.errors();
  return {
    resource: errors.length === 0 ? resource : undefined,
    errors,
    warnings: f.warnings,
    namePos: header?.namePos ?? doc.root.pos,
  };
}

function readHeader(f: Findings, root: LMap): Header | undefined {
  const kubernetes = root.entries.has('apiVersion') || root.entries.has('kind');
  return kubernetes ? readKubernetesHeader(f, root) : readUniversalHeader(f, root);
}

function readType(f: Findings, root: LMap, key: 'type' | 'kind'): ResourceType | undefined {
  const e = entry(root, key);
  if (e === undefined) {
    f.schema(key, root.pos, key === 'type' ? M.documentKindMissing : M.mustBeDefined);
    return undefined;
  }
  const value = stringField(f, root, key, '');
  if (value === undefined) return undefined;
  if ((DOCUMENT_TYPES as readonly string[]).includes(value.value)) return value.value as ResourceType;
  f.schema(key, value.pos, M.unsupportedKind(key, value.value, DOCUMENT_TYPES));
  return undefined;
}

function readUniversalHeader(f: Findings, root: LMap): Header | undefined {
  const type = readType(f, root, 'type');
  if (type === undefined) return undefined;
  if (type !== 'Mesh') {
    const body = type === 'MeshTrafficPermission' ? ['spec'] : BODY_FIELDS[type];
    checkUnknownFields(f, root, '', [...UNIVERSAL_META, ...body], 'warning');
  }
  const name = stringField(f, root, 'name', '');
  const labelsEntry = entry(root, 'labels');
  const meshEntry = entry(root, 'mesh');
  const mesh = stringField(f, root, 'mesh', '');
  return {
    form: 'universal',
    type,
    name,
    namePos: name?.pos ?? root.pos,
    labels: labelsEntry && asStringMap(f, labelsEntry.value, 'labels'),
    mesh: mesh && { value: mesh.value, pos: mesh.pos, path: 'mesh' },
    meshEntry,
    body: root,
    root,
  };
}

function readKubernetesHeader(f: Findings, root: LMap): Header | undefined {
  const apiVersionEntry = entry(root, 'apiVersion');
  if (apiVersionEntry === undefined) f.schema('apiVersion', root.pos, M.mustBeDefined);
  else asEnum(f, apiVersionEntry.value, 'apiVersion', [KUBERNETES_API_VERSION]);
  const type = readType(f, root, 'kind');
  if (type === undefined) return undefined;
  if (type !== 'Mesh') checkUnknownFields(f, root, '', KUBERNETES_TOP, 'warning');

  const metadataEntry = entry(root, 'metadata');
  const metadata = metadataEntry && asMap(f, metadataEntry.value, 'metadata');
  const name = stringField(f, metadata, 'name', 'metadata');
  const namespace = stringField(f, metadata, 'namespace', 'metadata');
  const labelsEntry = entry(metadata, 'labels');
  const labels = labelsEntry && asStringMap(f, labelsEntry.value, 'labels');
  const meshLabel = labels?.entries.find((e) => e.key === MESH_LABEL);
  const meshValue = labels?.values[MESH_LABEL];

  const specEntry = entry(root, 'spec');
  const body = specEntry && asMap(f, specEntry.value, 'spec');
  if (body !== undefined && type !== 'Mesh' && type !== 'MeshTrafficPermission') {
    checkUnknownFields(f, body, 'spec', BODY_FIELDS[type], 'warning');
  }
  return {
    form: 'kubernetes',
    type,
    name,
    namePos: name?.pos ?? metadata?.pos ?? root.pos,
    labels,
    ...(namespace === undefined || namespace.value === '' ? {} : { namespace: namespace.value }),
    mesh:
      meshLabel && meshValue !== undefined
        ? { value: meshValue, pos: meshLabel.value.pos, path: keyPath('labels', MESH_LABEL) }
        : undefined,
    body,
    root,
  };
}

function readResource(f: Findings, h: Header, source: SourceLocation): Resource | undefined {
  checkResourceName(f, h.name?.value, h.namePos);
  if (h.labels !== undefined) checkLabels(f, h.labels);
  const base = { name: h.name?.value ?? '', labels: h.labels?.values ?? {}, form: h.form, source };

  switch (h.type) {
    case 'MeshTrafficPermission': {
      if (h.mesh !== undefined) checkMeshName(f, h.mesh.path, h.mesh.value, h.mesh.pos);
      const spec = validateMtpSpec(f, entry(h.root, 'spec'), h.root.pos);
      // Only a Dataplane targetRef reads the policy's namespace (to resolve its name).
      const namespace =
        h.namespace === undefined || spec?.targetRef.kind !== 'Dataplane' ? {} : { namespace: h.namespace };
      return spec && { ...base, type: h.type, mesh: h.mesh?.value ?? DEFAULT_MESH, ...namespace, ...spec };
    }
    case 'Mesh': {
      const mtls = validateMeshBody(f, h.body);
      return mtls && { ...base, type: h.type, mtls };
    }
    case 'AccessRole': {
      warnGlobal(f, h);
      const rules = validateAccessRoleBody(f, h.body);
      return rules && { ...base, type: h.type, rules };
    }
    case 'AccessRoleBinding': {
      warnGlobal(f, h);
      const body = validateBindingBody(f, h.body);
      return body && { ...base, type: h.type, ...body };
    }
  }
}

function warnGlobal(f: Findings, h: Header): void {
  if (h.form === 'universal' && h.meshEntry !== undefined) {
    f.warn('mesh', h.meshEntry.keyPos, M.ignoredOnGlobal(h.type));
  }
}
