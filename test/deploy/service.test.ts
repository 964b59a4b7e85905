/**
 * The built service, started the way the manifests start it (the Deployment's env, the ConfigMap
 * mounted as the kubelet mounts it), answers what the deployment files expect of it: the probe
 * paths, the Dockerfile HEALTHCHECK, the gRPC health check of the Envoy cluster, a Check carrying
 * the sidecar's node-metadata tags, the Unix socket of sidecar-unix.yaml, and a SIGTERM drain
 * inside the termination grace.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type TestClient } from '../authz/wire.js';
import { makeWorkloadCert } from '../support/certs.js';
import { ensureBuilt, type ServeProcess, startServe } from '../support/server.js';
import {
  CLI,
  CONTRACT,
  type KubeObject,
  kubernetesObjects,
  loadYaml,
  objectOf,
  REPO,
  writeConfigMapVolume,
} from './contract.js';

interface PodSpec {
  terminationGracePeriodSeconds: number;
  containers: { env?: { name: string; value?: string }[] }[];
}

const objects = kubernetesObjects();
const configMap = objectOf<KubeObject & { data: Record<string, string> }>(objects, 'ConfigMap');
const pod = objectOf<{ spec: { template: { spec: PodSpec } } }>(objects, 'Deployment').spec.template.spec;
const sidecar = loadYaml(join(REPO, 'envoy/sidecar.yaml'))[0] as {
  node: { metadata: Record<string, unknown> };
};
const labelsKey = /bootstrap_metadata_labels_key: (\S+)/.exec(
  readFileSync(join(REPO, 'envoy/sidecar.yaml'), 'utf8'),
)?.[1] as string;

/** The Deployment's env, with the policy directory moved to where the test mounted the ConfigMap. */
function deploymentEnv(policyDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const { name, value } of pod.containers[0]?.env ?? []) env[name] = value;
  return { ...env, MTP_AUTHZ_POLICIES: policyDir };
}

describe.skipIf(!existsSync(CLI))('mtp-authz as deployed (needs dist/cli.js: npm run build)', () => {
  let dir: string;
  let server: ServeProcess & { grpcTarget: string; httpPort: number };
  let client: TestClient;

  beforeAll(async () => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'mtp-deployed-'));
    writeConfigMapVolume(join(dir, 'policies'), configMap.data);
    server = await startServe([], deploymentEnv(join(dir, 'policies')));
    client = connect(server.grpcTarget);
  });
  afterAll(async () => {
    client?.close();
    server?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers the readiness and liveness probe paths with 200', async () => {
    for (const path of [CONTRACT.readyzPath, CONTRACT.healthzPath]) {
      const response = await fetch(`http://127.0.0.1:${server.httpPort}${path}`);
      expect(response.status, path).toBe(200);
    }
  });

  it('passes the Dockerfile HEALTHCHECK', async () => {
    const dockerfile = readFileSync(join(REPO, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
    const line = /^HEALTHCHECK .*?CMD (\[.*\])$/m.exec(dockerfile)?.[1] as string;
    const argv = JSON.parse(line) as string[];
    const env = { MTP_AUTHZ_HTTP_ADDRESS: `0.0.0.0:${server.httpPort}` };
    const code = await new Promise<number>((resolve) =>
      execFile(process.execPath, argv.slice(1), { env }, (error) => resolve(error === null ? 0 : 1)),
    );
    expect(code).toBe(0);
  });

  it('is SERVING for the service name of the Envoy gRPC health check', async () => {
    expect(await client.health(CONTRACT.healthService)).toBe('SERVING');
  });

  it('decides a Check as the sidecar sends it: node-metadata tags, peer certificate', async () => {
    const labels = sidecar.node.metadata[labelsKey] as Record<string, string>;
    const request = (service: string) => ({
      source: { certificate: makeWorkloadCert({ uris: [`spiffe://default/${service}`] }).urlEncoded },
      destination: { principal: 'spiffe://default/payments', labels },
      http: { method: 'GET', host: 'payments', path: '/' },
    });

    const allowed = await client.check(request('orders'));
    expect(allowed.code).toBe(0);
    expect(allowed.metadata).toMatchObject({
      enforced_engine_result: 'allowed',
      enforced_effective_policy_id: 'allow-orders',
    });

    const denied = await client.check(request('payments'));
    expect(denied.code).toBe(7);
    expect(denied.denied?.httpStatus).toBe(403);
    expect(denied.metadata).toMatchObject({ enforced_engine_result: 'denied' });
    for (const answer of [allowed, denied]) {
      // The access logs print these keys; nothing else is returned.
      expect(CONTRACT.metadataKeys).toEqual(expect.arrayContaining(Object.keys(answer.metadata)));
    }
  });

  it('drains and exits 0 on SIGTERM inside the termination grace', async () => {
    const started = Date.now();
    server.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(pod.terminationGracePeriodSeconds * 1000);
  });
});

describe.skipIf(!existsSync(CLI))('mtp-authz on a Unix socket, as sidecar-unix.yaml reaches it', () => {
  let dir: string;
  let server: ServeProcess & { grpcTarget: string };

  beforeAll(async () => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'mtp-unix-'));
    writeConfigMapVolume(join(dir, 'policies'), configMap.data);
    const socket = join(dir, 'authz.sock');
    server = await startServe(['--grpc-address', `unix://${socket}`], deploymentEnv(join(dir, 'policies')));
  });
  afterAll(() => {
    server?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers the gRPC health check over the socket', async () => {
    expect(server.grpcTarget).toBe(`unix://${join(dir, 'authz.sock')}`);
    const client = connect(server.grpcTarget);
    try {
      expect(await client.health(CONTRACT.healthService)).toBe('SERVING');
    } finally {
      client.close();
    }
  });
});
