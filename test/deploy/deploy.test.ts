/**
 * Every YAML/JSON file under envoy/ and deploy/ parses, and the Kubernetes manifests agree with
 * the service: ports, probe paths, env forms, the shutdown grace, the security context, the
 * ConfigMap (the example policies, unchanged, and valid for `mtp-authz validate`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../support/server.js';
import {
  CLI,
  CONTRACT,
  examplePolicies,
  filesUnder,
  type KubeObject,
  kubernetesObjects,
  kustomizationOf,
  loadYaml,
  objectOf,
  REPO,
  selects,
  writeConfigMapVolume,
  yamlFilesIn,
} from './contract.js';

interface Probe {
  httpGet: { path: string; port: string };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: { name: string; value?: string }[];
  ports: { name: string; containerPort: number }[];
  readinessProbe: Probe;
  livenessProbe: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  securityContext: Record<string, unknown>;
  volumeMounts: { name: string; mountPath: string; subPath?: string; readOnly?: boolean }[];
}
interface Deployment extends KubeObject {
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        terminationGracePeriodSeconds: number;
        securityContext: Record<string, unknown>;
        topologySpreadConstraints?: unknown[];
        affinity?: unknown;
        containers: Container[];
        volumes: { name: string; configMap?: { name: string } }[];
      };
    };
  };
}
interface Service extends KubeObject {
  spec: {
    clusterIP?: string;
    selector: Record<string, string>;
    ports: { name: string; port: number; targetPort: string; appProtocol?: string }[];
  };
}

describe('files under envoy/ and deploy/', () => {
  const files = [...filesUnder('envoy'), ...filesUnder('deploy')].filter((f) => /\.(ya?ml|json)$/.test(f));

  it('include the sidecar configs and every manifest', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'envoy/sidecar.yaml',
        'envoy/sidecar-unix.yaml',
        'deploy/kubernetes/kustomization.yaml',
      ]),
    );
  });

  it.each(files)('%s parses', (file) => {
    const text = readFileSync(join(REPO, file), 'utf8');
    if (file.endsWith('.json')) expect(() => JSON.parse(text)).not.toThrow();
    else expect(loadYaml(join(REPO, file)).length).toBeGreaterThan(0);
  });
});

describe('deploy/kubernetes', () => {
  const objects = kubernetesObjects();
  const deployment = objectOf<Deployment>(objects, 'Deployment');
  const pod = deployment.spec.template;
  const container = pod.spec.containers[0] as Container;
  const services = objects.filter((o): o is Service => o.kind === 'Service');
  const configMap = objectOf<KubeObject & { data: Record<string, string> }>(objects, 'ConfigMap');

  it('kustomization.yaml lists every manifest in the directory', () => {
    const kustomization = kustomizationOf('deploy/kubernetes');
    const manifests = yamlFilesIn('deploy/kubernetes').filter((f) => basename(f) !== 'kustomization.yaml');
    expect([...kustomization.resources].sort()).toEqual(manifests);
    expect(objects.map((o) => o.kind)).toEqual(
      expect.arrayContaining([
        'Deployment',
        'Service',
        'ConfigMap',
        'PodDisruptionBudget',
        'HorizontalPodAutoscaler',
        'ServiceMonitor',
        'NetworkPolicy',
      ]),
    );
  });

  it('Deployment: pods selected by their labels; no replicas beside the autoscaler', () => {
    // Every `kubectl apply` would reset the count the HorizontalPodAutoscaler chose.
    expect(deployment.spec).not.toHaveProperty('replicas');
    expect(selects(deployment.spec.selector.matchLabels, pod.metadata.labels)).toBe(true);
  });

  it('Deployment: the memory request covers the RSS measured in bench/README.md', () => {
    const rssRows = readFileSync(join(REPO, 'bench/README.md'), 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('| RSS'));
    const measured = rssRows.flatMap((row) => [...row.matchAll(/(\d+) MB/g)].map((m) => Number(m[1]) * 1e6));
    expect(measured.length).toBeGreaterThanOrEqual(2);
    const request = /^(\d+)Mi$/.exec(container.resources.requests.memory ?? '');
    expect(request).not.toBeNull();
    expect(Number(request?.[1]) * 2 ** 20).toBeGreaterThanOrEqual(Math.max(...measured));
    const limit = /^(\d+)Mi$/.exec(container.resources.limits.memory ?? '');
    expect(Number(limit?.[1])).toBeGreaterThan(Number(request?.[1]));
  });

  it('Deployment: container ports grpc and http are the service defaults', () => {
    expect(container.ports).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'grpc', containerPort: CONTRACT.grpcPort }),
        expect.objectContaining({ name: 'http', containerPort: CONTRACT.httpPort }),
      ]),
    );
  });

  it('Deployment: readiness on /readyz, liveness on /healthz, both on the http port', () => {
    expect(container.readinessProbe.httpGet).toEqual({ path: CONTRACT.readyzPath, port: 'http' });
    expect(container.livenessProbe.httpGet).toEqual({ path: CONTRACT.healthzPath, port: 'http' });
  });

  it('Deployment: every MTP_AUTHZ_ variable is the env form of a serve flag', () => {
    const names = (container.env ?? []).map((e) => e.name).filter((n) => n.startsWith('MTP_AUTHZ_'));
    expect(names).toContain('MTP_AUTHZ_POLICIES');
    expect(names.filter((n) => !CONTRACT.flagEnvs.has(n))).toEqual([]);
    expect(container.args).toEqual(['serve']);
  });

  it('Deployment: policies are the ConfigMap, mounted as a directory at MTP_AUTHZ_POLICIES', () => {
    const policies = container.env?.find((e) => e.name === 'MTP_AUTHZ_POLICIES')?.value;
    expect(policies).toBe(CONTRACT.policyDir);
    const volume = pod.spec.volumes.find((v) => v.configMap?.name === configMap.metadata.name);
    const mount = container.volumeMounts.find((m) => m.name === volume?.name);
    // subPath mounts never see ConfigMap updates; the directory mount does, through ..data.
    expect(mount).toEqual({ name: volume?.name, mountPath: policies, readOnly: true });
  });

  it('Deployment: the termination grace covers preStop plus the service shutdown grace', () => {
    const command = container.lifecycle?.preStop?.exec?.command ?? [];
    const preStopMs = command[0] === 'sleep' ? Number(command[1]) * 1000 : 0;
    expect(pod.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(
      preStopMs + CONTRACT.shutdownGraceMs,
    );
  });

  it('Deployment: resources, non-root, read-only root, no privilege escalation, no capabilities', () => {
    for (const kind of ['requests', 'limits'] as const) {
      expect(Object.keys(container.resources[kind]).sort()).toEqual(['cpu', 'memory']);
    }
    expect(pod.spec.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container.securityContext).toMatchObject({
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const dockerUser = /^USER (\d+)/m.exec(readFileSync(join(REPO, 'Dockerfile'), 'utf8'))?.[1];
    expect(container.securityContext.runAsUser).toBe(Number(dockerUser));
  });

  it('Deployment: replicas are spread over nodes', () => {
    const spread = JSON.stringify(pod.spec.topologySpreadConstraints ?? pod.spec.affinity ?? null);
    expect(spread).toContain('kubernetes.io/hostname');
  });

  it('Services select the pods and name container ports; gRPC is marked HTTP/2', () => {
    const containerPorts = new Set(container.ports.map((p) => p.name));
    expect(services.length).toBeGreaterThan(0);
    for (const service of services) {
      expect(selects(service.spec.selector, pod.metadata.labels), service.metadata.name).toBe(true);
      for (const port of service.spec.ports) {
        expect(containerPorts.has(port.targetPort), `${service.metadata.name}/${port.name}`).toBe(true);
        const expected = port.name === 'grpc' ? CONTRACT.grpcPort : CONTRACT.httpPort;
        expect(port.port).toBe(expected);
        if (port.name === 'grpc') expect(port.appProtocol).toBe('kubernetes.io/h2c');
      }
    }
    const main = services.find((s) => s.metadata.name === deployment.metadata.name);
    expect(main?.spec.ports.map((p) => p.name).sort()).toEqual(['grpc', 'http']);
    expect(services.some((s) => s.spec.clusterIP === 'None')).toBe(true);
  });

  it('PodDisruptionBudget lets a drain take one replica at a time, whatever the count', () => {
    const pdb = objectOf<{
      spec: {
        maxUnavailable?: number;
        minAvailable?: number;
        selector: { matchLabels: Record<string, string> };
      };
    }>(objects, 'PodDisruptionBudget');
    expect(selects(pdb.spec.selector.matchLabels, pod.metadata.labels)).toBe(true);
    expect(pdb.spec.maxUnavailable).toBe(1);
    expect(pdb.spec).not.toHaveProperty('minAvailable');
  });

  it('NetworkPolicy: gRPC from every namespace, HTTP (metrics, admin API) only from Prometheus', () => {
    interface Peer {
      namespaceSelector?: { matchLabels?: Record<string, string> };
      podSelector?: { matchLabels?: Record<string, string> };
    }
    const policy = objectOf<
      KubeObject & {
        spec: {
          podSelector: { matchLabels: Record<string, string> };
          policyTypes: string[];
          ingress: { ports: { port: string | number }[]; from: Peer[] }[];
        };
      }
    >(objects, 'NetworkPolicy');
    expect(selects(policy.spec.podSelector.matchLabels, pod.metadata.labels)).toBe(true);
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    const portNumber = (port: string | number): number =>
      typeof port === 'number' ? port : (container.ports.find((p) => p.name === port)?.containerPort ?? -1);
    const rulesFor = (port: number) =>
      policy.spec.ingress.filter((rule) => rule.ports.some((p) => portNumber(p.port) === port));
    expect(rulesFor(CONTRACT.grpcPort).map((r) => r.from)).toEqual([[{ namespaceSelector: {} }]]);
    const http = rulesFor(CONTRACT.httpPort);
    expect(http).toHaveLength(1);
    for (const peer of http[0]?.from ?? []) {
      expect(Object.keys(peer.namespaceSelector?.matchLabels ?? {}).length).toBeGreaterThan(0);
      expect(Object.keys(peer.podSelector?.matchLabels ?? {}).length).toBeGreaterThan(0);
    }
    // Every rule names its ports: none admits every port.
    expect(policy.spec.ingress.every((rule) => rule.ports.length > 0)).toBe(true);
  });

  it('HorizontalPodAutoscaler (autoscaling/v2) scales the Deployment on CPU, from two', () => {
    const hpa = objectOf<KubeObject & { spec: Record<string, unknown> }>(objects, 'HorizontalPodAutoscaler');
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: deployment.metadata.name,
    });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(JSON.stringify(hpa.spec.metrics)).toContain('"name":"cpu"');
  });

  it('ServiceMonitor scrapes /metrics on the http port of exactly one Service', () => {
    const monitor = objectOf<KubeObject & { spec: Record<string, unknown> }>(objects, 'ServiceMonitor');
    expect(monitor.apiVersion).toBe('monitoring.coreos.com/v1');
    const selector = (monitor.spec.selector as { matchLabels: Record<string, string> }).matchLabels;
    const endpoints = monitor.spec.endpoints as { port: string; path: string }[];
    expect(endpoints).toEqual([expect.objectContaining({ port: 'http', path: CONTRACT.metricsPath })]);
    const scraped = services.filter(
      (s) => selects(selector, s.metadata.labels) && s.spec.ports.some((p) => p.name === 'http'),
    );
    expect(scraped.map((s) => s.metadata.name)).toEqual([deployment.metadata.name]);
  });

  it('ServiceMonitor says how Prometheus must select it, and what reaches port 9192', () => {
    const text = readFileSync(join(REPO, 'deploy/kubernetes/servicemonitor.yaml'), 'utf8');
    for (const note of [
      'serviceMonitorSelector',
      'serviceMonitorNamespaceSelector',
      'release:',
      'networkpolicy.yaml',
    ])
      expect(text, note).toContain(note);
  });

  it('kustomization sets the image the Deployment uses', () => {
    const kustomization = kustomizationOf('deploy/kubernetes');
    expect(kustomization.images.map((i) => i.name)).toContain(container.image.split(':')[0]);
  });

  it('ConfigMap holds exactly the example policies, unchanged', () => {
    const examples = examplePolicies();
    expect(examples.size).toBeGreaterThan(0);
    expect(Object.keys(configMap.data).sort()).toEqual([...examples.keys()].sort());
    for (const [key, text] of examples) expect(configMap.data[key], key).toBe(text);
  });

  describe.skipIf(!existsSync(CLI))(
    'ConfigMap policies with the CLI (needs dist/cli.js: npm run build)',
    () => {
      let dir: string;
      beforeAll(() => {
        ensureBuilt();
        dir = mkdtempSync(join(tmpdir(), 'mtp-configmap-'));
      });
      afterAll(() => rmSync(dir, { recursive: true, force: true }));

      const validate = (path: string) => {
        const result = spawnSync(process.execPath, [CLI, 'validate', path], { encoding: 'utf8' });
        return { status: result.status, stdout: result.stdout, stderr: result.stderr };
      };

      it('validate accepts them as plain files and as the kubelet mounts them (..data links)', () => {
        const plain = join(dir, 'plain');
        mkdirSync(plain);
        for (const [key, text] of Object.entries(configMap.data)) writeFileSync(join(plain, key), text);
        const asFiles = validate(plain);
        expect(asFiles, asFiles.stderr).toMatchObject({ status: 0, stderr: '' });

        const mounted = join(dir, 'mounted');
        writeConfigMapVolume(mounted, configMap.data);
        const asVolume = validate(mounted);
        expect(asVolume, asVolume.stderr).toMatchObject({ status: 0, stderr: '' });
        // The same policies, neither read twice through the links nor skipped as dot files.
        expect(asVolume.stdout).toBe(asFiles.stdout);
      });
    },
  );
});

if (!existsSync(CLI)) {
  process.stderr.write('test/deploy: dist/cli.js is missing (npm run build); the CLI checks are skipped\n');
}
