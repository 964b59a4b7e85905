/**
 * For integration tests that start a server in each test: builds dist/ once, and after every test
 * closes the gRPC clients and ends the servers that test started. The servers are spawned CLIs
 * by default, or whatever `startOne` starts (serveInProcess: the service in this process).
 */
import { afterEach, beforeAll } from 'vitest';
import { connect, type TestClient } from '../authz/wire.js';
import { ensureBuilt, type StartedServe, startServe } from './server.js';

/** What a test needs of a server to call it and end it. */
export interface Endable {
  readonly grpcTarget: string;
  readonly exited: Promise<unknown>;
  kill(signal?: NodeJS.Signals): void;
}

export interface Served<S extends Endable = StartedServe> {
  readonly server: S;
  readonly client: TestClient;
}

export function servePerTest(): (args: readonly string[]) => Promise<Served>;
export function servePerTest<S extends Endable>(
  startOne: (args: readonly string[]) => Promise<S>,
): (args: readonly string[]) => Promise<Served<S>>;
export function servePerTest(
  startOne: (args: readonly string[]) => Promise<Endable> = startServe,
): (args: readonly string[]) => Promise<Served<Endable>> {
  let started: Served<Endable>[] = [];
  beforeAll(() => ensureBuilt());
  afterEach(async () => {
    const ending = started;
    started = [];
    for (const { server, client } of ending) {
      client.close();
      server.kill('SIGKILL');
      await server.exited;
    }
  });
  return async (args) => {
    const server = await startOne(args);
    const served = { server, client: connect(server.grpcTarget) };
    started.push(served);
    return served;
  };
}
