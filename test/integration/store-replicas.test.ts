/**
 * Three `serve --store` replicas on one PostgreSQL database: a write taken by one is served by the
 * others, concurrent writes end identical everywhere, and a replica killed mid-stream loses no
 * write it acknowledged.
 */
import { describe, expect, it } from 'vitest';
import {
  call,
  decision,
  denyWebToBackend,
  metric,
  mtpPath,
  permission,
  policies,
  type Replica,
  replicasPerTest,
  servesVersion,
  startReplica,
  stopReplica,
  write,
} from '../support/replicas.js';
import { useTestDatabase } from '../support/use-database.js';

const db = useTestDatabase();
let databases = 0;
/** A fresh database of the cluster for each test. */
const freshDatabase = () => db.createDatabase(`replicas_${++databases}`);

const replicas = replicasPerTest();

/** What a replica serves, for comparing replicas: the resources and each one's stored body. */
async function served(replica: Replica, names: readonly string[]) {
  const view = await policies(replica);
  const bodies = await Promise.all(names.map((name) => call(replica, 'GET', mtpPath(name))));
  return { policies: view.policies, bodies: bodies.map((b) => [b.status, JSON.parse(b.text)]) };
}

describe('a write taken by one replica', () => {
  it(
    'is served by Checks on the other two once they reach its store version',
    { timeout: 45_000 },
    async () => {
      const [a, b, c] = (await replicas(await freshDatabase(), ['A', 'B', 'C'])) as [
        Replica,
        Replica,
        Replica,
      ];
      for (const r of [a, b, c]) expect(await decision(r)).toEqual({ code: 7 });

      const created = await write(a, 'PUT', mtpPath('web-to-backend'), {
        yaml: permission('web-to-backend', 'backend'),
      });
      expect(created.status).toBe(201);
      // Read-your-writes on the replica that answered: it already serves that version.
      expect((await policies(a)).storeVersion).toBeGreaterThanOrEqual(created.version);
      expect(await decision(a)).toEqual({ code: 0, policy: 'web-to-backend' });
      for (const r of [b, c]) {
        await servesVersion(r, created.version);
        expect(await decision(r)).toEqual({ code: 0, policy: 'web-to-backend' });
        expect((await policies(r)).policies).toContainEqual(
          expect.objectContaining({ type: 'MeshTrafficPermission', mesh: 'default', name: 'web-to-backend' }),
        );
      }

      // A replacement on B, then a delete on C, travel the same way.
      const replaced = await denyWebToBackend(b, [a, c], created.version);
      const deleted = await write(c, 'DELETE', mtpPath('web-to-backend'));
      expect(deleted.version).toBeGreaterThan(replaced.version);
      for (const r of [a, b]) {
        await servesVersion(r, deleted.version);
        expect(await decision(r)).toEqual({ code: 7 });
        expect((await call(r, 'GET', mtpPath('web-to-backend'))).status).toBe(404);
      }
    },
  );

  it(
    "reaches another replica in a burst as a few reloads, ending at the burst's last write",
    { timeout: 60_000 },
    async () => {
      const [a, b] = (await replicas(await freshDatabase(), ['A', 'B'])) as [Replica, Replica];
      const reloads = async () => {
        const value = await metric(b, 'mtp_authz_policy_reloads_total', { result: 'success' });
        if (value === undefined) throw new Error('B exports no mtp_authz_policy_reloads_total');
        return value;
      };
      const before = await reloads();
      const started = performance.now();
      const writes = 30;
      let last = { status: 0, version: 0 };
      for (let n = 1; n <= writes; n++) {
        const action = n % 2 === 0 ? 'Allow' : 'Deny';
        last = await write(a, 'PUT', mtpPath('web-to-backend'), {
          yaml: permission('web-to-backend', 'backend', action),
        });
        // Read-your-writes on A all through the burst.
        expect(await decision(a)).toEqual({ code: action === 'Allow' ? 0 : 7, policy: 'web-to-backend' });
      }
      await servesVersion(b, last.version);
      const elapsedMs = performance.now() - started;
      expect(await decision(b)).toEqual({ code: 0, policy: 'web-to-backend' });
      // Syncs caused by notifications start at least 150 ms apart: at most one per 150 ms of the
      // burst, however many writes it held.
      const made = (await reloads()) - before;
      expect(made).toBeGreaterThan(0);
      expect(made).toBeLessThanOrEqual(1 + Math.ceil(elapsedMs / 150));
    },
  );

  it('is served by a replica that starts afterwards', { timeout: 45_000 }, async () => {
    const url = await freshDatabase();
    const [a] = (await replicas(url, ['A'])) as [Replica];
    const created = await write(a, 'PUT', mtpPath('web-to-backend'), {
      yaml: permission('web-to-backend', 'backend'),
    });
    const [late] = (await replicas(url, ['late'])) as [Replica];
    expect((await policies(late)).storeVersion).toBeGreaterThanOrEqual(created.version);
    expect(await decision(late)).toEqual({ code: 0, policy: 'web-to-backend' });
  });
});

describe('30 concurrent writes spread over three replicas', () => {
  it(
    'end with the same resources and bodies on every replica, each the last one written',
    { timeout: 45_000 },
    async () => {
      const all = await replicas(await freshDatabase(), ['A', 'B', 'C']);
      // Ten names, each written three times at once (once through every replica), each time with a
      // body that says which write it was.
      const names = Array.from({ length: 10 }, (_, i) => `concurrent-${i}`);
      const writes = names.flatMap((name, i) =>
        all.map((replica, j) => ({ replica, name, target: `svc-${i}-${replica.name.toLowerCase()}-${j}` })),
      );
      const answers = await Promise.all(
        writes.map(async (w) => ({
          ...w,
          answer: await write(w.replica, 'PUT', mtpPath(w.name), { yaml: permission(w.name, w.target) }),
        })),
      );
      expect(answers).toHaveLength(30);
      // Every name was created exactly once and replaced twice.
      for (const name of names) {
        const statuses = answers.filter((a) => a.name === name).map((a) => a.answer.status);
        expect(statuses.sort()).toEqual([200, 200, 201]);
      }
      const latest = Math.max(...answers.map((a) => a.answer.version));
      for (const r of all) await servesVersion(r, latest);

      const views = await Promise.all(all.map((r) => served(r, names)));
      expect(views[1]).toEqual(views[0]);
      expect(views[2]).toEqual(views[0]);
      // The last writer wins: each body is the one of the write with the highest version.
      for (const [i, name] of names.entries()) {
        const last = answers
          .filter((a) => a.name === name)
          .reduce((x, y) => (y.answer.version > x.answer.version ? y : x));
        const [status, body] = views[0]?.bodies[i] as [number, { spec: { targetRef: { name: string } } }];
        expect(status).toBe(200);
        expect(body.spec.targetRef.name).toBe(last.target);
      }
    },
  );
});

describe('a replica killed with SIGKILL during a stream of writes', () => {
  it('loses none of the writes it acknowledged', { timeout: 60_000 }, async () => {
    const url = await freshDatabase();
    const [a, b, c] = (await replicas(url, ['A', 'B', 'C'])) as [Replica, Replica, Replica];
    const acknowledged: { name: string; version: number }[] = [];
    const failures: string[] = [];
    let stop = false;
    // Four writers on A and two on B, each writing new names one after another.
    const writer = (replica: Replica, id: string) =>
      (async () => {
        for (let n = 0; !stop; n++) {
          const name = `stream-${id}-${n}`;
          try {
            const answer = await call(replica, 'PUT', mtpPath(name), {
              yaml: permission(name, `svc-${id}-${n}`),
            });
            if (answer.status === 201 && answer.version !== undefined)
              acknowledged.push({ name, version: answer.version });
            else if (replica === b) failures.push(`B answered ${answer.status} ${answer.text}`);
          } catch (error) {
            // Only A dies: a write cut by its death is not acknowledged, whatever became of it.
            if (replica !== a) failures.push(`${replica.name}: ${String(error)}`);
            return;
          }
        }
      })();
    const writers = [
      ...['a1', 'a2', 'a3', 'a4'].map((id) => writer(a, id)),
      ...['b1', 'b2'].map((id) => writer(b, id)),
    ];
    try {
      await expect
        .poll(() => acknowledged.filter((w) => w.name.startsWith('stream-a')).length, { timeout: 15_000 })
        .toBeGreaterThan(20);
      a.server.kill('SIGKILL');
      expect(await a.server.exited).toBe('SIGKILL');
      // B keeps taking writes after A's death.
      const beforeDeath = acknowledged.length;
      await expect.poll(() => acknowledged.length, { timeout: 15_000 }).toBeGreaterThan(beforeDeath + 10);
    } finally {
      // Whatever the outcome, no writer outlives this part (the replicas are killed after the test).
      stop = true;
      await Promise.all(writers);
    }
    expect(failures).toEqual([]);

    const fromA = acknowledged.filter((w) => w.name.startsWith('stream-a'));
    expect(fromA.length).toBeGreaterThan(20);
    const latest = Math.max(...acknowledged.map((w) => w.version));
    await servesVersion(c, latest);
    const onC = new Set((await policies(c)).policies.map((p) => p.name));
    expect(acknowledged.filter((w) => !onC.has(w.name))).toEqual([]);

    // A restarted serves them all too.
    const again = await startReplica(url, 'A again');
    try {
      expect((await policies(again)).storeVersion).toBeGreaterThanOrEqual(latest);
      const onAgain = new Set((await policies(again)).policies.map((p) => p.name));
      expect(acknowledged.filter((w) => !onAgain.has(w.name))).toEqual([]);
    } finally {
      await stopReplica(again);
    }
  });
});
