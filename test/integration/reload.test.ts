/**
 * Hot reload against the running service (in this process; SIGHUP on the CLI): every way files really change (in-place writes, editors'
 * rename, deletes, new subdirectories, a Kubernetes ConfigMap `..data` swap, SIGHUP) switches
 * decisions; an invalid edit changes nothing but logs; a reload storm never fails a Check.
 */
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TestClient } from '../authz/wire.js';
import { makeWorkloadCert } from '../support/certs.js';
import { parseMetrics, sampleValue } from '../support/prom-parse.js';
import { servePerTest, type Served } from '../support/serve-per-test.js';
import { type ServedHere, serveInProcess } from '../support/serve-in-process.js';
import type { ServerLines } from '../../kit/serve.mjs';
import { mesh, mtp, service } from '../support/policies.js';
import { ALLOW_ALL_YAML, DENY_ALL_YAML, mtpYaml } from '../support/policy-yaml.js';
import { policyDir, tempDir } from '../support/temp-files.js';

const ALLOW_ALL = ALLOW_ALL_YAML;
const DENY_ALL = DENY_ALL_YAML;
const DENY_BACKEND = mtpYaml(mtp('deny-backend', service('backend'), [[mesh(), 'Deny']]));

const WEB = makeWorkloadCert({ uris: ['spiffe://default/web'] }).urlEncoded;
const REQUEST = { source: { certificate: WEB }, destination: { principal: 'spiffe://default/backend' } };

// The service in this process; the SIGHUP test spawns the CLI, since the signal is what it tests.
const start = servePerTest(serveInProcess);
const startCli = servePerTest();

/**
 * Where a test writes its files whole, a short stability window spares each reload most of the
 * default second; the in-place writer's test keeps the default, since the window is its subject.
 */
const WHOLE_FILES = ['--reload-stability-window', '200ms'];

function serve(policies: string, ...args: string[]): Promise<Served<ServedHere>> {
  return start(['--policies', policies, ...args]);
}

async function decision(c: TestClient): Promise<{ code: number; via?: string; policy?: string }> {
  const answer = await c.check(REQUEST);
  return {
    code: answer.code,
    ...(answer.metadata.enforced_effective_policy_id
      ? { policy: answer.metadata.enforced_effective_policy_id }
      : {}),
  };
}

/** Waits for the reload that makes `generation` serve. */
function reloaded(s: ServerLines, generation: number) {
  return s.waitForLog((l) => l.msg === 'policies reloaded' && l.generation === generation, 10_000);
}

describe('reload on file changes', () => {
  it('an in-place write, even in several partial steps, switches decisions once complete', async () => {
    const dir = policyDir({ 'policy.yaml': ALLOW_ALL }, 'mtp-reload-');
    const file = join(dir, 'policy.yaml');
    const { server: s, client: c } = await serve(dir);
    expect(await decision(c)).toEqual({ code: 0, policy: 'allow-all' });

    writeFileSync(file, DENY_ALL.slice(0, 40));
    await new Promise((r) => setTimeout(r, 30));
    writeFileSync(file, DENY_ALL);
    await reloaded(s, 2);
    expect(await decision(c)).toEqual({ code: 7, policy: 'deny-all' });
  });

  it("an editor's write-temp-then-rename switches decisions", async () => {
    const dir = policyDir({ 'policy.yaml': ALLOW_ALL }, 'mtp-reload-');
    const { server: s, client: c } = await serve(dir, ...WHOLE_FILES);
    writeFileSync(join(dir, '.policy.yaml.swp'), DENY_ALL);
    renameSync(join(dir, '.policy.yaml.swp'), join(dir, 'policy.yaml'));
    await reloaded(s, 2);
    expect(await decision(c)).toEqual({ code: 7, policy: 'deny-all' });
  });

  it('a deleted file stops applying', async () => {
    const dir = policyDir({ 'allow.yaml': ALLOW_ALL, 'deny-backend.yaml': DENY_BACKEND }, 'mtp-reload-');
    const { server: s, client: c } = await serve(dir, ...WHOLE_FILES);
    expect(await decision(c)).toEqual({ code: 7, policy: 'deny-backend' });
    rmSync(join(dir, 'deny-backend.yaml'));
    await reloaded(s, 2);
    expect(await decision(c)).toEqual({ code: 0, policy: 'allow-all' });
  });

  it('a new subdirectory and the files later written into it are picked up', async () => {
    const dir = policyDir({ 'allow.yaml': ALLOW_ALL }, 'mtp-reload-');
    const { server: s, client: c } = await serve(dir, ...WHOLE_FILES);
    mkdirSync(join(dir, 'team-a'));
    await reloaded(s, 2);
    writeFileSync(join(dir, 'team-a', 'deny-backend.yaml'), DENY_BACKEND);
    await reloaded(s, 3);
    expect(await decision(c)).toEqual({ code: 7, policy: 'deny-backend' });
  });

  it('a Kubernetes ConfigMap update (..data symlink swapped to a new directory) switches decisions', async () => {
    const dir = tempDir('mtp-reload-');
    mkdirSync(join(dir, '..2026_11_22_10_00_00.000000001'));
    writeFileSync(join(dir, '..2026_11_22_10_00_00.000000001', 'policy.yaml'), ALLOW_ALL);
    symlinkSync('..2026_11_22_10_00_00.000000001', join(dir, '..data'));
    symlinkSync('..data/policy.yaml', join(dir, 'policy.yaml'));
    const { server: s, client: c } = await serve(dir, ...WHOLE_FILES);
    expect(await decision(c)).toEqual({ code: 0, policy: 'allow-all' });

    // What the kubelet does: write the new version beside the old, then atomically swap ..data.
    mkdirSync(join(dir, '..2026_11_22_10_05_00.000000002'));
    writeFileSync(join(dir, '..2026_11_22_10_05_00.000000002', 'policy.yaml'), DENY_ALL);
    symlinkSync('..2026_11_22_10_05_00.000000002', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    rmSync(join(dir, '..2026_11_22_10_00_00.000000001'), { recursive: true });
    await reloaded(s, 2);
    expect(await decision(c)).toEqual({ code: 7, policy: 'deny-all' });
  });

  it('SIGHUP reloads even when nothing changed, with a new generation', async () => {
    const dir = policyDir({ 'policy.yaml': ALLOW_ALL }, 'mtp-reload-');
    const { server: s, client: c } = await startCli(['--policies', dir]);
    s.kill('SIGHUP');
    await reloaded(s, 2);
    const ready = await fetch(`http://127.0.0.1:${s.httpPort}/readyz`);
    expect(await ready.json()).toEqual({ status: 'ready', generation: 2 });
    expect(await decision(c)).toEqual({ code: 0, policy: 'allow-all' });
  });

  it('a directory reached through a symlink is watched too, as the loader reads it', async () => {
    const elsewhere = tempDir('mtp-reload-');
    const dir = policyDir({ 'allow.yaml': ALLOW_ALL }, 'mtp-reload-');
    symlinkSync(elsewhere, join(dir, 'team-b'));
    const { server: s, client: c } = await serve(dir, ...WHOLE_FILES);
    writeFileSync(join(elsewhere, 'deny-backend.yaml'), DENY_BACKEND);
    expect((await reloaded(s, 2)).policies).toBe(2);
    expect(await decision(c)).toEqual({ code: 7, policy: 'deny-backend' });
  });

  it('a policy file given directly (not its directory) is watched too', async () => {
    const dir = policyDir({ 'policy.yaml': ALLOW_ALL }, 'mtp-reload-');
    const file = join(dir, 'policy.yaml');
    const { server: s, client: c } = await serve(file, ...WHOLE_FILES);
    writeFileSync(file, DENY_ALL);
    await reloaded(s, 2);
    expect(await decision(c)).toEqual({ code: 7, policy: 'deny-all' });
  });
});

describe('a bad change never replaces good policies', () => {
  it('keeps serving the last good set, logs every violation, and recovers on the next good write', async () => {
    const dir = policyDir({ 'policy.yaml': ALLOW_ALL }, 'mtp-reload-');
    const file = join(dir, 'policy.yaml');
    const { server: s, client: c } = await serve(dir, ...WHOLE_FILES);

    writeFileSync(
      file,
      ALLOW_ALL.replace('Allow', 'Permit').replace('kind: Mesh}\n  from', 'kind: Meshh}\n  from'),
    );
    const failed = await s.waitForLog(
      (l) => l.msg === 'policy reload failed; keeping the last good policies',
    );
    expect(failed.violations).toBe(2);
    const violations = s.logs.filter((l) => l.msg === 'policy violation').map((l) => l.violation);
    expect(violations).toEqual([
      `${file}:4:21: spec.targetRef.kind: in body should be one of [Mesh MeshSubset MeshGateway MeshService MeshServiceSubset MeshHTTPRoute]`,
      `${file}:7:25: spec.from[0].default.action: in body should be one of [Allow Deny AllowWithShadowDeny]`,
    ]);
    expect(await decision(c)).toEqual({ code: 0, policy: 'allow-all' });
    let metrics = await scrape(s);
    expect(sampleValue(metrics, 'mtp_authz_policy_reloads_total', { result: 'failure' })).toBe(1);
    expect(sampleValue(metrics, 'mtp_authz_policy_stale')).toBe(1);
    expect(sampleValue(metrics, 'mtp_authz_policy_generation')).toBe(1);
    const policies = await (await fetch(`http://127.0.0.1:${s.httpPort}/policies`)).json();
    expect(policies).toMatchObject({ generation: 1, stale: true });

    writeFileSync(file, DENY_ALL);
    await reloaded(s, 2);
    expect(await decision(c)).toEqual({ code: 7, policy: 'deny-all' });
    metrics = await scrape(s);
    expect(sampleValue(metrics, 'mtp_authz_policy_stale')).toBe(0);
    expect(sampleValue(metrics, 'mtp_authz_policy_generation')).toBe(2);
    expect(sampleValue(metrics, 'mtp_authz_policy_reloads_total', { result: 'success' })).toBe(2);
  });
});

async function scrape(s: { httpPort: number }) {
  return parseMetrics(await (await fetch(`http://127.0.0.1:${s.httpPort}/metrics`)).text());
}

describe('reload storm', () => {
  it('no Check fails and every answer is the decision of one of the two sets', async () => {
    const dir = policyDir({ 'policy.yaml': ALLOW_ALL }, 'mtp-reload-');
    const file = join(dir, 'policy.yaml');
    // A storm of whole-file rewrites, each announced by SIGHUP: no need to wait for files to settle.
    const { server: s, client: c } = await serve(dir, '--reload-stability-window', '0s');

    let stop = false;
    const seen = { allow: 0, deny: 0, failed: 0, other: 0 };
    const sender = (async () => {
      for (let i = 0; i < 20_000 && !stop; i++) {
        try {
          const d = await decision(c);
          if (d.code === 0 && d.policy === 'allow-all') seen.allow++;
          else if (d.code === 7 && d.policy === 'deny-all') seen.deny++;
          else seen.other++;
        } catch {
          seen.failed++;
        }
      }
    })();
    for (let flip = 1; flip <= 20; flip++) {
      // Whole-file rewrites by rename, as README says policies are written: a reload never reads
      // a truncated file (the stability window that guards in-place writers is off here).
      writeFileSync(join(dir, '.next.tmp'), flip % 2 === 1 ? DENY_ALL : ALLOW_ALL);
      renameSync(join(dir, '.next.tmp'), file);
      s.kill('SIGHUP');
      await reloaded(s, flip + 1);
    }
    stop = true;
    await sender;
    expect(seen.failed).toBe(0);
    expect(seen.other).toBe(0);
    expect(seen.allow).toBeGreaterThan(0);
    expect(seen.deny).toBeGreaterThan(0);
  });
});
