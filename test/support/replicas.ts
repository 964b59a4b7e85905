/**
 * Several `serve --store URL` processes on one database, as a Deployment with more than one
 * replica runs them: admin calls over HTTP, the store version each one serves, its metrics, and a
 * gRPC client per replica for Checks.
 */
import { afterEach, beforeAll, expect } from 'vitest';
import { connect, type DecodedCheckResponse, type TestClient } from '../authz/wire.js';
import { makeWorkloadCert } from './certs.js';
import { parseMetrics, sampleValue } from './prom-parse.js';
import { ensureBuilt, killServe, type StartedServe, startServe } from './server.js';

export interface Replica {
  readonly name: string;
  readonly server: StartedServe;
  readonly client: TestClient;
}

export interface AdminAnswer {
  readonly status: number;
  readonly contentType: string | null;
  readonly text: string;
  /** `x-mtp-store-version` of a committed write. */
  readonly version: number | undefined;
}

/** Call in a describe: starts replicas on demand and kills those a test started after it. */
export function replicasPerTest(): (
  url: string,
  names: readonly string[],
  args?: readonly string[],
) => Promise<Replica[]> {
  let started: Replica[] = [];
  beforeAll(() => ensureBuilt());
  afterEach(async () => {
    const ending = started;
    started = [];
    await Promise.all(ending.map((r) => stopReplica(r)));
  });
  return async (url, names, args = []) => {
    const replicas = await Promise.all(names.map((name) => startReplica(url, name, args)));
    started.push(...replicas);
    return replicas;
  };
}

export async function startReplica(
  url: string,
  name: string,
  args: readonly string[] = [],
): Promise<Replica> {
  const server = await startServe(['--store', url, ...args]);
  return { name, server, client: connect(server.grpcTarget) };
}

export async function stopReplica(replica: Replica): Promise<void> {
  replica.client.close();
  await killServe(replica.server);
}

export interface CallOptions {
  readonly token?: string;
  readonly yaml?: string;
  readonly json?: unknown;
  readonly headers?: Record<string, string>;
}

export async function call(
  replica: Replica,
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<AdminAnswer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.yaml !== undefined) {
    headers['content-type'] = 'application/yaml';
    body = options.yaml;
  } else if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  }
  const res = await fetch(`http://127.0.0.1:${replica.server.httpPort}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body }),
  });
  const version = res.headers.get('x-mtp-store-version');
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    text: await res.text(),
    version: version === null ? undefined : Number(version),
  };
}

/** A committed write: 2xx, and the store version it was committed as. */
export async function write(
  replica: Replica,
  method: 'PUT' | 'DELETE',
  path: string,
  options: CallOptions = {},
) {
  const answer = await call(replica, method, path, options);
  if (answer.status < 200 || answer.status > 299) {
    throw new Error(`${method} ${path} on ${replica.name}: ${answer.status} ${answer.text}`);
  }
  expect(answer.version, `x-mtp-store-version of ${method} ${path}`).toBeTypeOf('number');
  expect(Number.isSafeInteger(answer.version)).toBe(true);
  return answer as AdminAnswer & { version: number };
}

export interface PoliciesView {
  readonly storeVersion: number;
  readonly stale: boolean;
  readonly policies: readonly { type: string; mesh?: string; name: string; file: string }[];
}

export async function policies(replica: Replica): Promise<PoliciesView> {
  const res = await fetch(`http://127.0.0.1:${replica.server.httpPort}/policies`);
  expect(res.status).toBe(200);
  return (await res.json()) as PoliciesView;
}

/** Waits until `replica` serves store version `version` or a later one. */
export async function servesVersion(replica: Replica, version: number, timeoutMs = 10_000): Promise<void> {
  await expect
    .poll(async () => (await policies(replica)).storeVersion >= version, {
      timeout: timeoutMs,
      interval: 20,
      message: `${replica.name} serves store version ${version}`,
    })
    .toBe(true);
}

export async function metric(replica: Replica, name: string, labels: Record<string, string> = {}) {
  const res = await fetch(`http://127.0.0.1:${replica.server.httpPort}/metrics`);
  return sampleValue(parseMetrics(await res.text()), name, labels);
}

export const WEB = makeWorkloadCert({ uris: ['spiffe://default/web'] }).urlEncoded;

/** web calling backend over mTLS, the client certificate as Envoy forwards it. */
export const WEB_TO_BACKEND = {
  source: { certificate: WEB },
  destination: { principal: 'spiffe://default/backend' },
} as const;

/** The decision a Check of web → backend gets: gRPC status code and deciding policy. */
export async function decision(replica: Replica): Promise<{ code: number; policy?: string }> {
  const answer: DecodedCheckResponse = await replica.client.check(WEB_TO_BACKEND);
  const policy = answer.metadata.enforced_effective_policy_id;
  return { code: answer.code, ...(policy ? { policy } : {}) };
}

/** A MeshTrafficPermission of mesh default from web to `target`, with `action`. */
export function permission(name: string, target: string, action = 'Allow'): string {
  return `type: MeshTrafficPermission
mesh: default
name: ${name}
spec:
  targetRef:
    kind: MeshService
    name: ${target}
  from:
  - targetRef:
      kind: MeshService
      name: web
    default:
      action: ${action}
`;
}

export const mtpPath = (name: string): string => `/meshes/default/meshtrafficpermissions/${name}`;
