/**
 * The built service started the way deploy/kubernetes-store starts it: the overlay's Deployment
 * environment, its Secret keys written where the pod mounts them (moved under a temp directory),
 * the ConfigMap mounted as the kubelet mounts it, and a throw-away PostgreSQL for the Secret's URL.
 * Two such replicas take token-authorized writes and serve each other's.
 */
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDatabase, type TestDatabase } from '../support/postgres.js';
import {
  call,
  mtpPath,
  permission,
  policies,
  type Replica,
  servesVersion,
  write,
} from '../support/replicas.js';
import { connect } from '../authz/wire.js';
import { ensureBuilt, killServe, startServe } from '../support/server.js';
import {
  CLI,
  type KubeObject,
  kubernetesObjects,
  objectOf,
  storeOverlayDeployment,
  writeConfigMapVolume,
} from './contract.js';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}
interface PodSpec {
  containers: { env: EnvVar[]; volumeMounts: { name: string; mountPath: string }[] }[];
  volumes: { name: string; secret?: { secretName: string; items: { key: string; path: string }[] } }[];
}

const pod = storeOverlayDeployment<{ spec: { template: { spec: PodSpec } } }>().spec.template.spec;
const container = pod.containers[0] as PodSpec['containers'][number];
const configMap = objectOf<KubeObject & { data: Record<string, string> }>(kubernetesObjects(), 'ConfigMap');

/**
 * The pod's environment with every Secret key in place: values from secretKeyRef, files where the
 * Secret volumes are mounted (under `root`), the ConfigMap at MTP_AUTHZ_POLICIES.
 */
function podEnv(root: string, secrets: Record<string, Record<string, string>>): NodeJS.ProcessEnv {
  const moved = (path: string) => join(root, path);
  for (const mount of container.volumeMounts) {
    const volume = pod.volumes.find((v) => v.name === mount.name);
    if (volume?.secret === undefined) continue;
    mkdirSync(moved(mount.mountPath), { recursive: true });
    for (const item of volume.secret.items) {
      const text = secrets[volume.secret.secretName]?.[item.key];
      if (text === undefined) throw new Error(`no key ${item.key} in Secret ${volume.secret.secretName}`);
      writeFileSync(join(moved(mount.mountPath), item.path), text, { mode: 0o440 });
    }
  }
  const env: NodeJS.ProcessEnv = {};
  for (const { name, value, valueFrom } of container.env) {
    const ref = valueFrom?.secretKeyRef;
    if (ref !== undefined) env[name] = secrets[ref.name]?.[ref.key];
    else if (value?.startsWith('/etc/')) env[name] = moved(value);
    else env[name] = value;
  }
  const policyDir = env.MTP_AUTHZ_POLICIES as string;
  writeConfigMapVolume(policyDir, configMap.data);
  return env;
}

describe.skipIf(!existsSync(CLI))('mtp-authz as deploy/kubernetes-store runs it (needs dist/cli.js)', () => {
  let db: TestDatabase;
  let root: string;
  let env: NodeJS.ProcessEnv;
  let keyFile: string;
  const replicas: Replica[] = [];

  beforeAll(async () => {
    ensureBuilt();
    db = await startTestDatabase();
    root = mkdtempSync(join(tmpdir(), 'mtp-deployed-store-'));
    const url = new URL(db.url);
    const password = decodeURIComponent(url.password);
    url.password = '';
    const signingKey = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' });
    env = podEnv(root, {
      'mtp-authz-store': { url: url.toString(), password: `${password}\n` },
      'mtp-authz-token-signing-key': { 'signing-key': signingKey.toString() },
    });
    keyFile = env.MTP_AUTHZ_TOKEN_SIGNING_KEY as string;
    for (const name of ['pod-1', 'pod-2']) {
      const server = await startServe([], env);
      replicas.push({ name, server, client: connect(server.grpcTarget) });
    }
  });
  afterAll(async () => {
    for (const r of replicas) {
      r.client.close();
      await killServe(r.server);
    }
    await db?.destroy();
    rmSync(root, { recursive: true, force: true });
  });

  it('connects with the URL from the Secret, which holds no password, and the password file', () => {
    expect(new URL(env.MTP_AUTHZ_STORE as string).password).toBe('');
    expect(env.MTP_AUTHZ_STORE_PASSWORD_FILE).toMatch(/password$/);
    for (const r of replicas) expect(r.server.child.exitCode).toBeNull();
  });

  it('takes a write with a token on one pod and serves it on the other; token-less writes are refused', async () => {
    const [one, two] = replicas as [Replica, Replica];
    const token = spawnSync(
      process.execPath,
      [CLI, 'token', '--name', 'alice', '--group', 'mesh-system:admin'],
      {
        env: { PATH: process.env.PATH, MTP_AUTHZ_TOKEN_SIGNING_KEY: keyFile },
        encoding: 'utf8',
      },
    );
    expect(token.stderr).toBe('');
    const written = await write(one, 'PUT', mtpPath('backend-from-web'), {
      token: token.stdout.trim(),
      yaml: permission('backend-from-web', 'backend'),
    });
    expect(written.status).toBe(201);
    await servesVersion(two, written.version);
    expect((await policies(two)).policies).toContainEqual(
      expect.objectContaining({ name: 'backend-from-web' }),
    );

    // The base turns the localhost admin off: without a token, loopback is anonymous.
    const anonymous = await call(two, 'DELETE', mtpPath('backend-from-web'));
    expect(anonymous.status).toBe(403);
    expect(JSON.parse(anonymous.text)).toEqual({
      status: 403,
      title: 'Access Denied',
      detail: 'user "mesh-system:anonymous/mesh-system:unauthenticated" cannot access the resource',
    });
  });
});
