/**
 * deploy/kubernetes-store: the base with --store. Its patch is merged here the way kustomize
 * merges a strategic-merge patch into a Deployment (lists of named things merged by name, volume
 * mounts by mount path), and checked against `kubectl kustomize` where kubectl is installed.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import {
  CONTRACT,
  filesUnder,
  type KubeObject,
  kubernetesObjects,
  loadYaml,
  objectOf,
  REPO,
  STORE_OVERLAY,
  storeOverlayDeployment,
} from './contract.js';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}
interface Volume {
  name: string;
  secret?: { secretName: string; defaultMode?: number; items?: { key: string; path: string }[] };
  configMap?: { name: string };
}
interface Deployment extends KubeObject {
  spec: {
    template: {
      spec: {
        securityContext: { runAsUser: number; runAsGroup: number; fsGroup?: number };
        containers: {
          name: string;
          env: EnvVar[];
          volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
          securityContext: { runAsUser: number };
        }[];
        volumes: Volume[];
      };
    };
  };
}

const kustomization = loadYaml(join(REPO, STORE_OVERLAY, 'kustomization.yaml'))[0] as {
  resources: string[];
  patches: { path: string }[];
};
const baseDeployment = objectOf<Deployment>(kubernetesObjects(), 'Deployment');
const patch = loadYaml(join(REPO, STORE_OVERLAY, kustomization.patches[0]?.path ?? '')) as KubeObject[];
const deployment = storeOverlayDeployment<Deployment>();
const pod = deployment.spec.template.spec;
const container = pod.containers[0] as Deployment['spec']['template']['spec']['containers'][number];
const env = (name: string) => container.env.find((e) => e.name === name);

/** The file a path inside the container is, as a Secret volume item: [Secret name, key]. */
function secretFileAt(path: string): [string, string] | undefined {
  for (const mount of container.volumeMounts) {
    if (!path.startsWith(`${mount.mountPath}/`)) continue;
    const volume = pod.volumes.find((v) => v.name === mount.name);
    const item = volume?.secret?.items?.find((i) => `${mount.mountPath}/${i.path}` === path);
    if (volume?.secret !== undefined && item !== undefined) return [volume.secret.secretName, item.key];
  }
  return undefined;
}

describe('deploy/kubernetes-store', () => {
  it('is the base deploy/kubernetes and one Deployment patch, and lists every file it has', () => {
    expect(kustomization.resources).toEqual(['../kubernetes']);
    const yamlFiles = filesUnder(STORE_OVERLAY)
      .filter((f) => /\.ya?ml$/.test(f))
      .map((f) => f.slice(STORE_OVERLAY.length + 1));
    expect(yamlFiles.sort()).toEqual(
      ['kustomization.yaml', ...kustomization.patches.map((p) => p.path)].sort(),
    );
    expect(patch).toHaveLength(1);
    expect(patch[0]).toMatchObject({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: baseDeployment.metadata.name },
    });
  });

  it('takes the store URL from a Secret, never a literal (a URL may hold a password)', () => {
    expect(env('MTP_AUTHZ_STORE')).toEqual({
      name: 'MTP_AUTHZ_STORE',
      valueFrom: { secretKeyRef: { name: 'mtp-authz-store', key: 'url' } },
    });
  });

  it('reads the store password and the token signing key from read-only Secret files', () => {
    const passwordFile = env('MTP_AUTHZ_STORE_PASSWORD_FILE')?.value ?? '';
    expect(secretFileAt(passwordFile)).toEqual(['mtp-authz-store', 'password']);
    const keyFile = env('MTP_AUTHZ_TOKEN_SIGNING_KEY')?.value ?? '';
    expect(secretFileAt(keyFile)).toEqual(['mtp-authz-token-signing-key', 'signing-key']);
    const secretVolumes = new Set(pod.volumes.filter((v) => v.secret !== undefined).map((v) => v.name));
    const secretMounts = container.volumeMounts.filter((m) => secretVolumes.has(m.name));
    expect(secretMounts).toHaveLength(2);
    for (const mount of secretMounts) expect(mount.readOnly, mount.mountPath).toBe(true);
  });

  it('lets the service user, and nobody else, read the Secret files', () => {
    const secrets = pod.volumes.filter((v) => v.secret !== undefined);
    expect(secrets).toHaveLength(2);
    for (const volume of secrets) expect(volume.secret?.defaultMode, volume.name).toBe(0o440);
    // Secret files belong to root and to the pod's fsGroup: it must be the service's group.
    expect(pod.securityContext.fsGroup).toBe(pod.securityContext.runAsGroup);
    expect(pod.securityContext.runAsUser).toBe(container.securityContext.runAsUser);
  });

  it('keeps the rest of the base: policies from the ConfigMap, every variable a serve flag, no state dir', () => {
    for (const base of baseDeployment.spec.template.spec.containers[0]?.env ?? [])
      expect(container.env).toContainEqual(base);
    for (const base of baseDeployment.spec.template.spec.containers[0]?.volumeMounts ?? [])
      expect(container.volumeMounts).toContainEqual(base);
    for (const base of baseDeployment.spec.template.spec.volumes) expect(pod.volumes).toContainEqual(base);
    const names = container.env.map((e) => e.name).filter((n) => n.startsWith('MTP_AUTHZ_'));
    expect(names.filter((n) => !CONTRACT.flagEnvs.has(n))).toEqual([]);
    // --store and --admin-state-dir exclude each other.
    expect(names).not.toContain('MTP_AUTHZ_ADMIN_STATE_DIR');
    expect(new Set(names).size).toBe(names.length);
  });

  const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
  it.skipIf(kubectl.status !== 0)('renders with kubectl kustomize to the Deployment merged here', () => {
    const rendered = spawnSync('kubectl', ['kustomize', join(REPO, STORE_OVERLAY)], { encoding: 'utf8' });
    expect(rendered.stderr).toBe('');
    const objects = parseAllDocuments(rendered.stdout).map((d) => d.toJS() as KubeObject);
    const real = objectOf<Deployment>(objects, 'Deployment');
    // The base's own objects come through unchanged.
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(
      kubernetesObjects()
        .map((o) => `${o.kind}/${o.metadata.name}`)
        .sort(),
    );
    const realPod = real.spec.template.spec;
    expect(realPod.securityContext).toEqual(pod.securityContext);
    expect(realPod.volumes).toEqual(pod.volumes);
    expect(realPod.containers[0]?.env).toEqual(container.env);
    expect(realPod.containers[0]?.volumeMounts).toEqual(container.volumeMounts);
  });
});
