/**
 * For integration tests that start the CLI in each test: builds dist/ once, and after every test
 * closes the gRPC clients and kills the servers that test started.
 */
import { afterEach, beforeAll } from 'vitest';
import { connect, type TestClient } from '../authz/wire.js';
import { ensureBuilt, killServe, type StartedServe, startServe } from './server.js';

export interface Served {
  readonly server: StartedServe;
  readonly client: TestClient;
}

export function servePerTest(): (args: readonly string[]) => Promise<Served> {
  let started: Served[] = [];
  beforeAll(() => ensureBuilt());
  afterEach(async () => {
    const ending = started;
    started = [];
    for (const { server, client } of ending) {
      client.close();
      await killServe(server);
    }
  });
  return async (args) => {
    const server = await startServe(args);
    const served = { server, client: connect(server.grpcTarget) };
    started.push(served);
    return served;
  };
}
