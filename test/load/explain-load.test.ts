/**
 * `POST /explain` cannot hold up Checks: while 1 MiB explanations run back to back (far more SANs
 * than a certificate may carry, as many as it may carry, far too many destination tags), Checks
 * sent at a steady pace keep a p99 under 50 ms — explanations run on their own thread.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type TestClient } from '../authz/wire.js';
import { makeWorkloadCert } from '../support/certs.js';
import { policyDir } from '../support/temp-files.js';
import { lowestPriority, raisePriority, restorePriority } from '../support/priority.js';
import { ensureBuilt, killServe, type StartedServe, startServe } from '../support/server.js';

/** Allows web; a few MeshSubset entries on `env` give a many-valued client real work. */
const POLICIES = `type: MeshTrafficPermission
name: backend
spec:
  targetRef: {kind: MeshService, name: backend}
  from:
${Array.from(
  { length: 20 },
  (_, i) => `    - targetRef: {kind: MeshSubset, tags: {env: e${i}, zone: z${i % 4}}}
      default: {action: ${i % 2 === 0 ? 'Deny' : 'Allow'}}
`,
).join('')}    - targetRef: {kind: MeshService, name: web}
      default: {action: Allow}
`;
const WEB = makeWorkloadCert({ uris: ['spiffe://default/web'] }).urlEncoded;
const REQUEST = { source: { certificate: WEB }, destination: { principal: 'spiffe://default/backend' } };
const MiB = 1024 * 1024;

/** `fields` as JSON padded with spaces to exactly 1 MiB. */
function body(fields: Record<string, unknown>): string {
  const text = JSON.stringify({ destinationTags: { 'kuma.io/service': 'backend' }, ...fields });
  expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MiB);
  return text + ' '.repeat(MiB - Buffer.byteLength(text));
}
/** ~38 000 SPIFFE IDs: far more than a certificate may carry, so a Check's invalid-identity. */
const TOO_MANY_SANS = body({
  clientSans: Array.from({ length: 38_000 }, (_, i) => `spiffe://default/s${i}`),
});
/** 256 SANs of 4 KB, many values of `env` and `zone`: the most a certificate may carry, explained. */
const AT_LIMIT = body({
  clientSans: [
    'spiffe://default/web',
    ...Array.from(
      { length: 255 },
      (_, i) => `kuma://${i % 2 === 0 ? 'env' : 'zone'}/v${i}-${'x'.repeat(4000)}`,
    ),
  ],
});
/** More destination tags than any inbound is explained with (422). */
const TOO_MANY_TAGS = body({
  destinationTags: Object.fromEntries([
    ['kuma.io/service', 'backend'],
    ...Array.from({ length: 20_000 }, (_, i) => [`tag-${i}`, 'v']),
  ]),
});

/** A child process posting the bodies one after the other, in a loop, until stopped; reports the statuses. */
function explainFlood(port: number, bodies: readonly string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'mtp-explain-flood-'));
  const files = bodies.map((text, i) => {
    const file = join(dir, `body-${i}.json`);
    writeFileSync(file, text);
    return file;
  });
  const script = `
    const { readFileSync } = require('node:fs');
    const bodies = ${JSON.stringify(files)}.map((f) => readFileSync(f));
    const statuses = [];
    let running = true;
    process.on('message', () => { running = false; });
    const loop = async () => {
      for (let i = 0; running; i++) {
        const body = bodies[i % bodies.length];
        const answer = await fetch('http://127.0.0.1:${port}/explain', { method: 'POST', body });
        await answer.arrayBuffer();
        statuses.push(answer.status);
        if (statuses.length === 1) process.send('started');
      }
    };
    loop().then(() => process.send(statuses));
  `;
  const file = join(dir, 'flood.cjs');
  writeFileSync(file, script);
  const child = fork(file, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  lowestPriority(child.pid);
  const messages: unknown[] = [];
  const waiters: (() => void)[] = [];
  child.on('message', (message) => {
    messages.push(message);
    for (const wake of waiters.splice(0)) wake();
  });
  const nth = (n: number): Promise<unknown> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (messages.length > n) resolve(messages[n]);
        else waiters.push(check);
      };
      check();
    });
  return {
    started: nth(0),
    async stop(): Promise<number[]> {
      child.send('stop');
      const statuses = (await nth(1)) as number[];
      child.kill();
      return statuses;
    },
  };
}

let server: StartedServe | undefined;
let client: TestClient | undefined;

beforeAll(async () => {
  ensureBuilt();
  server = await startServe(['--policies', policyDir({ 'policy.yaml': POLICIES })]);
  client = connect(server.grpcTarget);
  // What is measured is this server's Check thread against its own explanations (see priority.ts).
  raisePriority(server.child.pid);
  raisePriority(process.pid);
});

afterAll(async () => {
  client?.close();
  await killServe(server);
  restorePriority(process.pid);
});

async function post(text: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const answer = await fetch(`http://127.0.0.1:${server?.httpPort}/explain`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: text,
  });
  return { status: answer.status, body: (await answer.json()) as Record<string, unknown> };
}

describe('POST /explain under load', () => {
  it('answers the 1 MiB bodies: too many SANs as a Check would, one at the limits, 422 for too many tags', async () => {
    for (const text of [TOO_MANY_SANS, AT_LIMIT, TOO_MANY_TAGS]) expect(Buffer.byteLength(text)).toBe(MiB);
    expect(await post(TOO_MANY_SANS)).toMatchObject({
      status: 200,
      body: { action: 'Deny', via: 'invalid-identity' },
    });
    expect(await post(AT_LIMIT)).toMatchObject({ status: 200, body: { policies: ['backend'] } });
    expect(await post(TOO_MANY_TAGS)).toEqual({
      status: 422,
      body: {
        status: 422,
        title: 'Unprocessable Content',
        detail: 'destinationTags has 20001 tags, more than the 64 an inbound is explained with',
      },
    });
  });

  it('keeps Check p99 under 50 ms while 1 MiB explanations run back to back', async () => {
    const c = client as TestClient;
    for (let i = 0; i < 50; i++) expect((await c.check(REQUEST)).code).toBe(0); // warm up

    // The explanations come from another process, as they would from another client.
    const flood = explainFlood(server?.httpPort as number, [TOO_MANY_SANS, AT_LIMIT, TOO_MANY_TAGS]);
    await flood.started;

    // A steady pace (one call every 5 ms for 10 s), each call timed on its own.
    const latencies: number[] = [];
    const calls: Promise<void>[] = [];
    for (let i = 0; i < 2000; i++) {
      const started = performance.now();
      calls.push(
        c.check(REQUEST).then((answer) => {
          latencies.push(performance.now() - started);
          expect(answer.code).toBe(0);
        }),
      );
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await Promise.all(calls);
    const explained = await flood.stop();

    expect(explained.filter((s) => s === 422).length).toBeGreaterThan(0);
    expect(explained.filter((s) => s === 200).length).toBeGreaterThan(0);
    expect(explained.filter((s) => s !== 200 && s !== 422)).toEqual([]);
    latencies.sort((a, b) => a - b);
    const p99 = latencies[Math.ceil(latencies.length * 0.99) - 1] as number;
    expect(p99).toBeLessThan(50);
  }, 60_000);
});
