/**
 * Reload integrity against the running service (in this process; the CLI for SIGTERM): a half-written policy file is never served, SIGTERM
 * during a reload (admin writes queued, a health Watch open) exits 0 within `--shutdown-grace`,
 * concurrent admin writes share reloads, and each reload logs only warnings not logged before.
 */
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TestClient } from '../authz/wire.js';
import { makeWorkloadCert } from '../support/certs.js';
import { parseMetrics, sampleValue } from '../support/prom-parse.js';
import { servePerTest } from '../support/serve-per-test.js';
import { serveInProcess } from '../support/serve-in-process.js';
import { mtp, service } from '../support/policies.js';
import { ALLOW_ALL_YAML, DENY_ALL_YAML, mtpYaml } from '../support/policy-yaml.js';
import { policyDir, tempDir } from '../support/temp-files.js';

const ALLOW_ALL = ALLOW_ALL_YAML;
const DENY_ALL = DENY_ALL_YAML;
/** More specific than allow-all (MeshService): it overrides it for web → backend. */
const DENY_WEB = mtpYaml(mtp('deny-web', service('backend'), [[service('web'), 'Deny']]));

const WEB = makeWorkloadCert({ uris: ['spiffe://default/web'] }).urlEncoded;
const REQUEST = { source: { certificate: WEB }, destination: { principal: 'spiffe://default/backend' } };

// The service in this process; the SIGTERM tests spawn the CLI, since the signal and the exit
// code are what they test, and so does the test of shared reloads (see there).
const start = servePerTest(serveInProcess);
const startCli = servePerTest();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function decision(c: TestClient): Promise<{ code: number; policy?: string }> {
  const answer = await c.check(REQUEST);
  const policy = answer.metadata.enforced_effective_policy_id;
  return { code: answer.code, ...(policy ? { policy } : {}) };
}

async function metric(
  s: { httpPort: number },
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${s.httpPort}/metrics`)).text();
  return sampleValue(parseMetrics(text), name, labels) ?? Number.NaN;
}

/** Lets client-<target> call <target>. */
const clientPolicy = (name: string, target: string): string =>
  mtpYaml(mtp(name, service(target), [[service(`client-${target}`), 'Allow']]));

function put(s: { httpPort: number }, name: string): Promise<{ status: number; body: string }> {
  return fetch(`http://127.0.0.1:${s.httpPort}/meshes/default/meshtrafficpermissions/${name}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/yaml' },
    body: clientPolicy(name, `svc-${name}`),
  }).then(async (res) => ({ status: res.status, body: await res.text() }));
}

describe('a half-written policy file', () => {
  it('an in-place writer pausing after a complete document (longer than the debounce) never changes a decision', async () => {
    const dir = policyDir({ 'policy.yaml': DENY_ALL }, 'mtp-integrity-');
    const file = join(dir, 'policy.yaml');
    const { server: s, client: c } = await start(['--policies', dir]);
    expect(await decision(c)).toEqual({ code: 7, policy: 'deny-all' });

    // `cat > policy.yaml`: truncate, write the Allow, stall 700 ms (> 250 ms debounce, < 1 s
    // stability window), then the Deny that overrides it for web.
    const answers: { code: number; policy?: string }[] = [];
    let writing = true;
    const checks = (async () => {
      while (writing) answers.push(await decision(c));
    })();
    const fd = openSync(file, 'w');
    writeSync(fd, `${ALLOW_ALL}---\n`);
    await sleep(700);
    writeSync(fd, DENY_WEB);
    closeSync(fd);
    const loaded = await s.waitForLog((l) => l.msg === 'policies reloaded', 15_000);
    writing = false;
    await checks;

    expect(loaded).toMatchObject({ generation: 2, policies: 2 });
    expect(answers.length).toBeGreaterThan(0);
    expect(answers.filter((a) => a.code !== 7)).toEqual([]);
    expect(await decision(c)).toEqual({ code: 7, policy: 'deny-web' });
    expect(s.logs.filter((l) => l.msg === 'policies reloaded')).toHaveLength(1);
    expect(await metric(s, 'mtp_authz_policy_file_changed_while_reading_total')).toBe(0);
  });
});

describe('SIGTERM during a reload', () => {
  for (const workers of ['1', '2']) {
    it(`with admin writes queued and a health Watch open exits 0 within --shutdown-grace (--workers ${workers})`, async () => {
      const dir = tempDir('mtp-integrity-');
      const state = tempDir('mtp-integrity-');
      const file = join(dir, 'policy.yaml');
      writeFileSync(file, ALLOW_ALL);
      const { server: s, client: c } = await startCli([
        '--policies',
        dir,
        '--admin-state-dir',
        state,
        '--shutdown-grace',
        '3s',
        '--workers',
        workers,
      ]);
      const watch = c.watch('');
      const watchEnded = new Promise<void>((resolve) => {
        watch.on('end', () => resolve());
        watch.on('error', () => resolve());
      });
      watch.on('data', () => {});

      // An operator's file that keeps changing: the reload it starts waits for it to settle.
      const fd = openSync(file, 'w');
      writeSync(fd, ALLOW_ALL);
      const writer = setInterval(() => writeSync(fd, '# still writing\n'), 100);
      try {
        await s.waitForLog((l) => l.msg === 'listening' && l.listener === 'http');
        await sleep(400);
        const writes = Array.from({ length: 5 }, (_, i) => put(s, `queued-${i}`));
        await sleep(300);
        const signalled = performance.now();
        s.kill('SIGTERM');
        const answers = await Promise.all(writes);
        const code = await s.exited;
        const took = performance.now() - signalled;

        expect(code).toBe(0);
        expect(took).toBeLessThan(3000);
        for (const answer of answers) {
          expect(answer.status).toBe(503);
          expect(JSON.parse(answer.body)).toEqual({
            status: 503,
            title: 'Service Unavailable',
            detail: 'the service is shutting down; retry against another instance',
          });
        }
        await watchEnded;
        expect(s.logs.filter((l) => l.msg === 'policies reloaded')).toEqual([]);
      } finally {
        clearInterval(writer);
        closeSync(fd);
      }
    });
  }
});

describe('admin writes', () => {
  it('arriving together share reloads instead of one full reload each (1 000 stored resources)', async () => {
    const state = tempDir('mtp-integrity-');
    const mtps = join(state, 'meshtrafficpermissions', 'default');
    mkdirSync(mtps, { recursive: true });
    for (let i = 0; i < 1000; i++)
      writeFileSync(join(mtps, `p-${i}.yaml`), clientPolicy(`p-${i}`, `svc-${i}`));
    // The built CLI: how writes share reloads depends on the loader's own thread, which only the
    // compiled service has.
    const { server: s } = await startCli(['--admin-state-dir', state]);

    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => put(s, `together-${i}`)));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(201));
    const listed = (await (await fetch(`http://127.0.0.1:${s.httpPort}/policies`)).json()) as {
      policies: unknown[];
    };
    expect(listed.policies).toHaveLength(1020);
    const adminReloads = s.logs.filter(
      (l) => l.msg === 'policies reloaded' && String(l.reason).startsWith('admin API'),
    );
    expect(adminReloads.length).toBeGreaterThan(0);
    expect(adminReloads.length).toBeLessThanOrEqual(5);
  });
});

describe('policy warnings', () => {
  it('each reload logs only warnings no earlier load logged', async () => {
    const dir = tempDir('mtp-integrity-');
    const withUnknownField = (name: string, field: string) =>
      ALLOW_ALL.replace('allow-all', name).replace('spec:\n', `spec:\n  ${field}: 1\n`);
    writeFileSync(join(dir, 'a.yaml'), withUnknownField('a', 'extraA'));
    const { server: s } = await start(['--policies', dir]);
    const warnings = () => s.logs.filter((l) => l.msg === 'policy warning').map((l) => String(l.warning));
    expect(warnings()).toHaveLength(1);

    s.kill('SIGHUP');
    await s.waitForLog((l) => l.msg === 'policies reloaded' && l.generation === 2);
    expect(warnings()).toHaveLength(1);

    writeFileSync(join(dir, 'b.yaml'), withUnknownField('b', 'extraB'));
    s.kill('SIGHUP');
    await s.waitForLog((l) => l.msg === 'policies reloaded' && l.generation === 3);
    expect(warnings()).toHaveLength(2);
    expect(warnings()[1]).toContain('b.yaml');
    expect(warnings()[1]).toContain('extraB');
  });
});
