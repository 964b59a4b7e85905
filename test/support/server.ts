/**
 * Servers for tests, on ephemeral ports: the gRPC and HTTP listeners in-process over a typed
 * PolicySet (fast, no files), or the built CLI as a child process (`mtp-authz serve`), whose
 * listening lines on stderr tell the bound ports.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { clientFromCertificate } from '../../src/authz/certificate.js';
import { type GrpcTlsFiles, startGrpcServer } from '../../src/authz/server.js';
import { cachedCertificateReader, DecisionCache } from '../../src/decision/cache.js';
import { startHttpServer } from '../../src/http/server.js';
import { createLogger } from '../../src/observability/log.js';
import { observability } from '../../src/service/routes.js';
import { compileTables } from '../../src/policy/compile.js';
import type { PolicySet } from '../../src/policy/types.js';
import type { GrpcListenAddress } from '../../src/settings/values.js';
import { ServiceState } from '../../src/authz/state.js';
import { connect, type TestClient } from '../authz/wire.js';

export const REPO = join(import.meta.dirname, '../..');

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
  const snapshotOf = (next: PolicySet) => {
    generation++;
    return {
      ...compileTables(next, generation),
      set: next,
      generation,
      loadedAt: new Date(),
      files: [],
    };
  };
  const state = new ServiceState(options.unloaded ? undefined : snapshotOf(set));
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
    swap: (next) => state.swap(snapshotOf(next)),
    async stop(graceMs = 1000) {
      state.drain();
      await grpc.shutdown(graceMs);
      await http.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The built CLI

const CLI = join(REPO, 'dist/cli.js');

/** True when some source file is newer than the built CLI. */
function sourcesNewerThanBuild(): boolean {
  const out = execFileSync('find', [join(REPO, 'src'), '-name', '*.ts', '-newer', CLI], { encoding: 'utf8' });
  return out.trim() !== '';
}

/** Builds dist/ when it is missing or older than a source file. */
export function ensureBuilt(): void {
  if (existsSync(CLI) && statSync(CLI).isFile() && !sourcesNewerThanBuild()) return;
  try {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: REPO, stdio: 'pipe' });
  } catch {
    // tsc emits despite type errors elsewhere in the tree; the spawned CLI is what the tests check.
  }
}

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [key: string]: unknown;
}

export interface ServeProcess {
  readonly child: ChildProcess;
  /** Operational log lines (JSON) and any other stderr text, as received. */
  readonly stderr: string[];
  readonly logs: LogLine[];
  readonly stdout: string[];
  /** Resolves when a log line satisfies `match`. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Resolves with the exit code (or the signal name). */
  readonly exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): void;
}

export interface SpawnOptions {
  /** Runs the server under this open-file limit (`ulimit -n` in a shell that then execs it). */
  readonly openFileLimit?: number;
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

/** Spawns `node dist/cli.js serve ARGS`; call ensureBuilt() first. */
export function spawnServe(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  options: SpawnOptions = {},
): ServeProcess {
  const command = [process.execPath, CLI, 'serve', ...args];
  const [file, ...argv] =
    options.openFileLimit === undefined
      ? command
      : ['/bin/sh', '-c', 'ulimit -n "$0" && exec "$@"', String(options.openFileLimit), ...command];
  const child = spawn(file as string, argv, {
    cwd: REPO,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  const stdout: string[] = [];
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  const lines = (sink: string[], onLine?: (line: string) => void) => {
    let partial = '';
    return (chunk: Buffer) => {
      const parts = (partial + chunk.toString('utf8')).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        sink.push(line);
        onLine?.(line);
      }
      for (const wake of waiters) wake();
    };
  };
  child.stdout?.on('data', lines(stdout));
  child.stderr?.on(
    'data',
    lines(stderr, (line) => {
      if (!line.startsWith('{')) return;
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        // not a log line
      }
    }),
  );
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => {
      resolve(code ?? signal ?? -1);
      for (const wake of waiters) wake();
    });
  });
  let exitCode: number | string | undefined;
  void exited.then((code) => {
    exitCode = code;
  });
  return {
    child,
    stderr,
    stdout,
    logs,
    exited,
    kill: (signal = 'SIGTERM') => child.kill(signal),
    waitForLog(match, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const found = logs.find(match);
          if (found !== undefined) {
            done();
            resolve(found);
          } else if (exitCode !== undefined) {
            done();
            reject(
              new Error(`server exited (${exitCode}) before the expected log line:\n${stderr.join('\n')}`),
            );
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out waiting for a log line:\n${stderr.join('\n')}`));
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** Spawns the CLI and waits for both listening lines. */
export async function startServe(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  options: SpawnOptions = {},
): Promise<ServeProcess & { grpcTarget: string; httpPort: number }> {
  const server = spawnServe(
    ['--grpc-address', '127.0.0.1:0', '--http-address', '127.0.0.1:0', ...args],
    env,
    options,
  );
  const grpc = await server.waitForLog((l) => l.msg === 'listening' && l.listener === 'grpc');
  const http = await server.waitForLog((l) => l.msg === 'listening' && l.listener === 'http');
  return Object.assign(server, { grpcTarget: grpc.address as string, httpPort: http.port as number });
}

export type StartedServe = Awaited<ReturnType<typeof startServe>>;

/** Ends a CLI started by a test (if any) and waits until it has exited. */
export async function killServe(server: StartedServe | undefined): Promise<void> {
  server?.kill('SIGKILL');
  await server?.exited;
}
