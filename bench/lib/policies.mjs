// The benchmarks' policy set: 301 MeshTrafficPermissions in mesh `default` — 300 services with two
// `from` entries each, plus `backend` (what the requests hit: zone-1 clients allowed, the
// `evil-00000000` service denied). `flip.yaml` is the file the reload storm rewrites.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A MeshTrafficPermission of mesh default on the service `target`: one `from` per [targetRef, action]. */
export const mtpYaml = (name, target, from) => `type: MeshTrafficPermission
name: ${name}
mesh: default
spec:
  targetRef: {kind: MeshService, name: ${target}}
  from:
${from.map(([ref, action]) => `    - targetRef: ${ref}\n      default: {action: ${action}}\n`).join('')}`;

export const ZONE_1 = '{kind: MeshSubset, tags: {kuma.io/zone: zone-1}}';
export const ANY_CLIENT = '{kind: Mesh}';

export const BACKEND_POLICY = mtpYaml('backend', 'backend', [
  [ZONE_1, 'Allow'],
  ['{kind: MeshService, name: evil-00000000}', 'Deny'],
]);

/** A policy for an unrelated service: rewriting it with a new n makes a reload that changes nothing. */
export const flipPolicy = (n) => mtpYaml('flip', `other-${n}`, [[ANY_CLIENT, 'Allow']]);

function servicePolicies() {
  const docs = [];
  for (let s = 0; s < 300; s++) {
    docs.push(`type: MeshTrafficPermission
name: svc-${s}
mesh: default
spec:
  targetRef: {kind: MeshService, name: svc-${s}}
  from:
    - targetRef: {kind: MeshService, name: svc-${(s + 1) % 300}}
      default: {action: Allow}
    - targetRef: {kind: MeshSubset, tags: {env: dev}}
      default: {action: Deny}`);
  }
  return docs.join('\n---\n');
}

/** Writes the set into a new directory under `parent` (default: a temporary one); returns its path. */
export function writeBenchPolicies(parent = mkdtempSync(join(tmpdir(), 'mtp-bench-'))) {
  const dir = join(parent, 'policies');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'services.yaml'), servicePolicies());
  writeFileSync(join(dir, 'backend.yaml'), BACKEND_POLICY);
  writeFileSync(join(dir, 'flip.yaml'), flipPolicy(0));
  return dir;
}
