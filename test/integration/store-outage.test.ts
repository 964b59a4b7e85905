/**
 * PostgreSQL stopped for 10 s under Check load, with three replicas on it: Checks go on answering
 * from the last good set, writes are refused with 503, the store metrics say so; once the database
 * is back the replicas resync and writes work again.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { startTestDatabase, type TestDatabase } from '../support/postgres.js';
import {
  call,
  decision,
  metric,
  mtpPath,
  permission,
  policies,
  type Replica,
  replicasPerTest,
  servesVersion,
  write,
} from '../support/replicas.js';

const OUTAGE_MS = 10_000;

let db: TestDatabase;
beforeAll(async () => {
  db = await startTestDatabase();
});
afterAll(async () => {
  await db?.destroy();
});

const replicas = replicasPerTest();

/** Checks in a loop on every replica, each answer compared with the decision expected. */
function checkLoad(all: readonly Replica[], expected: { code: number; policy?: string }) {
  const tally = { answered: 0, failed: [] as string[], wrong: [] as string[] };
  let running = true;
  const loops = all.flatMap((replica) =>
    [1, 2].map(async () => {
      while (running) {
        try {
          const got = await decision(replica);
          tally.answered++;
          if (got.code !== expected.code || got.policy !== expected.policy) {
            tally.wrong.push(`${replica.name}: ${JSON.stringify(got)}`);
          }
        } catch (error) {
          tally.failed.push(`${replica.name}: ${String(error)}`);
          // A refused call can fail without I/O: yield, or the loop starves the timers.
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      }
    }),
  );
  return {
    tally,
    async stop() {
      running = false;
      await Promise.all(loops);
      return tally;
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the database stopped for 10 s', () => {
  it(
    'keeps Checks answering, refuses writes with 503, and recovers once it is back',
    { timeout: 60_000 },
    async () => {
      const all = await replicas(db.url, ['A', 'B', 'C']);
      const [a, b, c] = all as [Replica, Replica, Replica];
      const before = await write(a, 'PUT', mtpPath('web-to-backend'), {
        yaml: permission('web-to-backend', 'backend'),
      });
      for (const r of all) await servesVersion(r, before.version);
      for (const r of all) {
        expect(await metric(r, 'mtp_authz_store_up')).toBe(1);
        expect(await metric(r, 'mtp_authz_policy_stale')).toBe(0);
      }

      const load = checkLoad(all, { code: 0, policy: 'web-to-backend' });
      onTestFinished(() => load.stop().then(() => undefined));
      await sleep(200);
      const stoppedAt = Date.now();
      await db.stop();

      for (const r of all) {
        await expect.poll(() => metric(r, 'mtp_authz_store_up'), { timeout: 5_000 }).toBe(0);
        await expect.poll(() => metric(r, 'mtp_authz_policy_stale'), { timeout: 5_000 }).toBe(1);
      }
      for (const r of all) {
        const refused = await call(r, 'PUT', mtpPath(`during-outage-${r.name.toLowerCase()}`), {
          yaml: permission(`during-outage-${r.name.toLowerCase()}`, 'backend'),
        });
        expect(refused.status).toBe(503);
        // The same media type as the admin API's other problems (a 404 here).
        const notFound = await call(r, 'GET', mtpPath('missing'));
        expect(notFound.status).toBe(404);
        expect(refused.contentType).toBe(notFound.contentType);
        expect(refused.version).toBeUndefined();
        const body = JSON.parse(refused.text) as { status: number; title: string; detail: string };
        expect(body).toEqual({ status: 503, title: 'Service Unavailable', detail: expect.any(String) });
        expect(body.detail.startsWith('policy store unavailable: ')).toBe(true);
        expect(body.detail.length).toBeGreaterThan('policy store unavailable: '.length);
        const deleteRefused = await call(r, 'DELETE', mtpPath('web-to-backend'));
        expect(deleteRefused.status).toBe(503);
        expect(JSON.parse(deleteRefused.text).detail).toMatch(/^policy store unavailable: ./);
        // Still ready: a set was loaded, and it is what the Checks are answered from.
        expect((await fetch(`http://127.0.0.1:${r.server.httpPort}/readyz`)).status).toBe(200);
      }

      await sleep(Math.max(0, OUTAGE_MS - (Date.now() - stoppedAt)));
      const during = { ...load.tally, failed: [...load.tally.failed], wrong: [...load.tally.wrong] };
      await db.start();

      for (const r of all) {
        await expect.poll(() => metric(r, 'mtp_authz_store_up'), { timeout: 20_000 }).toBe(1);
        await expect.poll(() => metric(r, 'mtp_authz_policy_stale'), { timeout: 5_000 }).toBe(0);
      }
      const tally = await load.stop();
      expect(during.failed).toEqual([]);
      expect(during.wrong).toEqual([]);
      expect(tally.failed).toEqual([]);
      expect(tally.wrong).toEqual([]);
      expect(during.answered).toBeGreaterThan(300);

      // Writes work again, on every replica, and converge; the refused ones were never stored.
      const after = await write(b, 'PUT', mtpPath('web-to-backend'), {
        yaml: permission('web-to-backend', 'backend', 'Deny'),
      });
      expect(after.status).toBe(200);
      expect(after.version).toBeGreaterThan(before.version);
      for (const r of [a, c]) {
        await servesVersion(r, after.version);
        expect(await decision(r)).toEqual({ code: 7, policy: 'web-to-backend' });
      }
      const fromC = await write(c, 'PUT', mtpPath('from-c'), { yaml: permission('from-c', 'other') });
      expect(fromC.status).toBe(201);
      await servesVersion(a, fromC.version);
      for (const r of all) {
        const names = (await policies(r)).policies.map((p) => p.name);
        expect(names.filter((n) => n.startsWith('during-outage'))).toEqual([]);
        expect((await call(r, 'GET', mtpPath('during-outage-a'))).status).toBe(404);
      }
    },
  );
});
