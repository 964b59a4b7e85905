/**
 * Mesh documents: only the mTLS state matters here (`mtls.enabledBackend` and the backends'
 * `name` / `mode`); every other Mesh field is ignored without a word.
 */
import { POLICY_MESSAGES as M } from './errors.js';
import type { LMap } from './parse.js';
import type { MtlsMode } from './types.js';
import {
  asEnum,
  asMap,
  asSeq,
  entry,
  type Findings,
  fieldPath,
  indexPath,
  stringField,
} from './validate-context.js';

const MODES = ['STRICT', 'PERMISSIVE'] as const;

/** `body` holds `mtls` (the document itself in the Universal form, `spec` in the Kubernetes form). */
export function validateMeshBody(f: Findings, body: LMap | undefined): MtlsMode | undefined {
  const mtlsEntry = entry(body, 'mtls');
  if (mtlsEntry === undefined) return 'disabled';
  const mtls = asMap(f, mtlsEntry.value, 'mtls');
  if (mtls === undefined) return undefined;

  const enabled = stringField(f, mtls, 'enabledBackend', 'mtls');
  const modes = new Map<string, MtlsMode>();
  const backendsEntry = entry(mtls, 'backends');
  const backends = backendsEntry && asSeq(f, backendsEntry.value, 'mtls.backends');
  backends?.items.forEach((item, i) => {
    const path = indexPath('mtls.backends', i);
    const backend = asMap(f, item, path);
    if (backend === undefined) return;
    const name = stringField(f, backend, 'name', path);
    const modeEntry = entry(backend, 'mode');
    const mode =
      modeEntry === undefined ? 'STRICT' : asEnum(f, modeEntry.value, fieldPath(path, 'mode'), MODES);
    if (name === undefined) return;
    if (modes.has(name.value)) f.rule(fieldPath(path, 'name'), name.pos, M.backendNameReused(name.value));
    else modes.set(name.value, mode === 'PERMISSIVE' ? 'permissive' : 'strict');
  });

  if (enabled === undefined || enabled.value === '') return 'disabled';
  const mode = modes.get(enabled.value);
  if (mode === undefined) f.rule('mtls.enabledBackend', enabled.pos, M.enabledBackendUnknown);
  return mode;
}
