/**
 * Servers for tests, on ephemeral ports: the gRPC and HTTP listeners in-process over a typed
 * PolicySet (fast, no files), or the built CLI as a child process (`mtp-authz serve`), whose
 * listening lines on stderr tell the bound ports.
 */
import { Registry } from 'prom-client';
import { afterAll, beforeAll } from 'vitest';
import { clientFromCertificate } from '../../src/authz/certificate.js';
import { type GrpcTlsFiles, startGrpcServer } from '../../src/authz/server.js';
import { cachedCertificateReader, DecisionCache } from '../../src/decision/cache.js';
import { startHttpServer } from '../../src/http/server.js';
import { createLogger } from '../../src/observability/log.js';
import { observability } from '../../src/service/routes.js';
import type { PolicySet } from '../../src/policy/types.js';
import type { GrpcListenAddress } from '../../src/settings/values.js';
import { ServiceState } from '../../src/authz/state.js';
import { connect, type TestClient } from '../authz/wire.js';
import * as kit from '../../kit/serve.mjs';
import type { ServeProcess, StartedServe } from '../../kit/serve.mjs';
import { snapshotOf } from './state.js';

export { ensureBuilt, type LogLine, REPO, type ServeProcess, type StartedServe } from '../../kit/serve.mjs';

export interface InProcessServer {
  /** What a gRPC client dials. */
  readonly target: string;
  readonly port: number | undefined;
  readonly httpPort: number;
  readonly state: ServiceState;
  /** Loads another policy set, as a reload would. */
  swap(set: PolicySet): void;
  stop(graceMs?: number): Promise<void>;
}

export interface InProcessOptions {
  readonly address?: GrpcListenAddress;
  readonly tls?: GrpcTlsFiles;
  readonly maxRequestBytes?: number;
  readonly maxConcurrentStreams?: number;
  readonly maxHealthWatches?: number;
  /** Start with no policy set loaded. */
  readonly unloaded?: boolean;
  /** Entries of the decision and identity caches (both off by default, as a test's own choice). */
  readonly decisionCacheSize?: number;
  readonly identityCacheSize?: number;
  /** Mount GET /metrics, GET /policies and POST /explain on the HTTP listener, as `serve` does. */
  readonly observability?: boolean;
}

export async function startInProcess(
  set: PolicySet,
  options: InProcessOptions = {},
): Promise<InProcessServer> {
  let generation = 0;
  const next = (nextSet: PolicySet) => snapshotOf(nextSet, ++generation);
  const state = new ServiceState(options.unloaded ? undefined : next(set));
  const log = createLogger('silent');
  const grpc = await startGrpcServer(state, {
    address: options.address ?? { kind: 'tcp', host: '127.0.0.1', port: 0 },
    ...(options.tls === undefined ? {} : { tls: options.tls }),
    maxRequestBytes: options.maxRequestBytes ?? 1024 * 1024,
    ...(options.maxConcurrentStreams === undefined
      ? {}
      : { maxConcurrentStreams: options.maxConcurrentStreams }),
    ...(options.maxHealthWatches === undefined ? {} : { maxHealthWatches: options.maxHealthWatches }),
    readCertificate: cachedCertificateReader(clientFromCertificate, options.identityCacheSize ?? 0).read,
    observers: { decisions: new DecisionCache(options.decisionCacheSize ?? 0) },
    log,
  });
  const routes = options.observability ? observability(state, { stale: false }, new Registry()) : [];
  const http = await startHttpServer(state, { host: '127.0.0.1', port: 0 }, routes);
  return {
    target: grpc.target,
    port: grpc.port,
    httpPort: http.port,
    state,
    swap: (nextSet) => state.swap(next(nextSet)),
    async stop(graceMs = 1000) {
      state.drain();
      await grpc.shutdown(graceMs);
      await http.close();
    },
  };
}

/** An in-process server over `set` and a gRPC client of it (for a file's beforeAll). */
export async function startWithClient(
  set: PolicySet,
): Promise<{ server: InProcessServer; client: TestClient }> {
  const server = await startInProcess(set);
  return { server, client: connect(server.target) };
}

/** Closes what startWithClient opened. */
export async function stopWithClient(server: InProcessServer, client: TestClient): Promise<void> {
  client.close();
  await server.stop();
}

/**
 * For a file's tests: an in-process server over `set` and a client of it, opened before them
 * (handed to `opened`) and closed after them.
 */
export function serveForFile(
  set: PolicySet,
  opened: (served: { server: InProcessServer; client: TestClient }) => void,
): void {
  let served: { server: InProcessServer; client: TestClient } | undefined;
  beforeAll(async () => {
    served = await startWithClient(set);
    opened(served);
  });
  afterAll(() => (served === undefined ? undefined : stopWithClient(served.server, served.client)));
}

// ---------------------------------------------------------------------------------------------
// The built CLI, through the Envoy-side toolkit (kit/serve.mjs); a test's server sees only PATH and
// the variables the test gives it.

export interface SpawnOptions {
  /** Runs the server under this open-file limit (`ulimit -n` in a shell that then execs it). */
  readonly openFileLimit?: number;
}

/** Spawns `node dist/cli.js serve ARGS`; call ensureBuilt() first. */
export function spawnServe(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  options: SpawnOptions = {},
): ServeProcess {
  return kit.spawnServe(args, { ...options, env: { PATH: process.env.PATH, ...env } });
}

/** Spawns the CLI and waits for both listening lines. */
export function startServe(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  options: SpawnOptions = {},
): Promise<StartedServe> {
  return kit.startServe(args, { ...options, env: { PATH: process.env.PATH, ...env } });
}

/** Ends a CLI started by a test (if any) and waits until it has exited. */
export async function killServe(server: StartedServe | undefined): Promise<void> {
  await kit.stopServe(server);
}
