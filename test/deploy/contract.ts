/**
 * What the deployment files (Dockerfile, envoy/, deploy/kubernetes/) must agree with, taken from
 * the code where the code exports it and from SPEC where it does not yet. This is the one place
 * to change when the service's contract moves. Also: loaders for the files under test.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { AUTHORIZATION_SERVICE } from '../../src/authz/health.js';
import { METADATA } from '../../src/authz/response.js';
import { CHECK_PATH, DESTINATION_TAGS_METADATA } from '../../src/authz/server.js';
import { FLAGS } from '../../src/settings/settings.js';
import { parseDuration, parseTcpAddress } from '../../src/settings/values.js';
import { type Json, strategicMerge } from './strategic-merge.js';

export const REPO = join(import.meta.dirname, '../..');
export const CLI = join(REPO, 'dist/cli.js');

function flagDefault(flag: string): string {
  const spec = FLAGS.find((s) => s.flag === flag);
  if (spec?.defaultText === undefined) throw new Error(`settings.ts has no default for --${flag}`);
  return spec.defaultText;
}

export const CONTRACT = {
  grpcPort: parseTcpAddress(flagDefault('grpc-address')).port,
  httpPort: parseTcpAddress(flagDefault('http-address')).port,
  shutdownGraceMs: parseDuration(flagDefault('shutdown-grace')),
  /** Every env form a flag has (MTP_AUTHZ_<FLAG>). */
  flagEnvs: new Set(FLAGS.map((s) => s.env)),
  checkPath: CHECK_PATH,
  healthService: AUTHORIZATION_SERVICE,
  destinationTagsMetadata: DESTINATION_TAGS_METADATA,
  /** The dynamic_metadata keys of every CheckResponse. */
  metadataKeys: Object.values(METADATA),
  // SPEC §6.1; the spawned service in service.test.ts checks that the probe paths answer.
  healthzPath: '/healthz',
  readyzPath: '/readyz',
  metricsPath: '/metrics',
  // SPEC §3: the filter namespaces Envoy puts CheckResponse.dynamic_metadata under.
  httpFilterNamespace: 'envoy.filters.http.ext_authz',
  networkFilterNamespace: 'envoy.filters.network.ext_authz',
  // The deployment's own choices, shared by the Dockerfile, the manifests and the Envoy configs.
  policyDir: '/etc/mtp-authz/policies',
  unixSocket: '/var/run/mtp-authz/authz.sock',
  /** SPEC §2.2 tag key / value charsets (a destination tag must be one a policy can name). */
  tagKey: /^[a-zA-Z0-9.\-_:/]+$/,
  tagValue: /^[a-zA-Z0-9.\-_:]+$/,
} as const;

/** Every document of a YAML file (multi-document aware); a syntax error throws. */
export function loadYaml(path: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(path, 'utf8'));
  if (!Array.isArray(docs)) throw new Error(`${path}: not YAML documents`);
  const values: unknown[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value: unknown = doc.toJS();
    if (value !== null && value !== undefined) values.push(value);
  }
  return values;
}

/** Files under a directory, recursively, as paths relative to the repository. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (path: string): void => {
    for (const name of readdirSync(path)) {
      const full = join(path, name);
      if (statSync(full).isDirectory()) walk(full);
      else out.push(relative(REPO, full));
    }
  };
  try {
    walk(join(REPO, dir));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  return out.sort();
}

/** The example policies as the ConfigMap holds them: `<directory>-<file>` → file text. */
export function examplePolicies(): Map<string, string> {
  const out = new Map<string, string>();
  for (const file of filesUnder('examples/policies')) {
    const match = /^examples\/policies\/([^/]+)\/([^/]+\.ya?ml)$/.exec(file);
    if (match === null) continue;
    out.set(`${match[1]}-${match[2]}`, readFileSync(join(REPO, file), 'utf8'));
  }
  return out;
}

export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly labels?: Record<string, string> };
  readonly [field: string]: unknown;
}

/** Every object of the manifests the kustomization lists, in order. */
export function kubernetesObjects(): KubeObject[] {
  const kustomization = loadYaml(join(REPO, 'deploy/kubernetes/kustomization.yaml'))[0] as {
    resources: string[];
  };
  return kustomization.resources.flatMap(
    (file) => loadYaml(join(REPO, 'deploy/kubernetes', file)) as KubeObject[],
  );
}

export function objectOf<T = Record<string, unknown>>(objects: readonly KubeObject[], kind: string): T {
  const found = objects.filter((o) => o.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0] as unknown as T;
}

/** True when every label of `selector` is among `labels`. */
export function selects(selector: Record<string, string>, labels: Record<string, string> = {}): boolean {
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

/** The kubelet's ConfigMap volume: files in a timestamped directory, `..data` and per-key links. */
export function writeConfigMapVolume(dir: string, data: Record<string, string>): void {
  const version = '..2026_01_01_00_00_00.000000001';
  mkdirSync(join(dir, version), { recursive: true });
  for (const [key, text] of Object.entries(data)) writeFileSync(join(dir, version, key), text);
  symlinkSync(version, join(dir, '..data'));
  for (const key of Object.keys(data)) symlinkSync(join('..data', key), join(dir, key));
}

export const STORE_OVERLAY = 'deploy/kubernetes-store';

/** The Deployment of deploy/kubernetes-store: the base's, with the overlay's one patch merged. */
export function storeOverlayDeployment<T>(): T {
  const kustomization = loadYaml(join(REPO, STORE_OVERLAY, 'kustomization.yaml'))[0] as {
    patches: { path: string }[];
  };
  const patch = loadYaml(join(REPO, STORE_OVERLAY, kustomization.patches[0]?.path ?? ''))[0] as Json;
  return strategicMerge(objectOf<Json>(kubernetesObjects(), 'Deployment'), patch) as T;
}
