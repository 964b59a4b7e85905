/**
 * `--max-policy-bytes` against the running service (the CLI for the exit code): a policy set over the cap is
 * refused at start-up with the reason, and a reload over it fails like any bad reload — the last good set
 * keeps serving, the service is marked stale, and the reason is logged.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeWorkloadCert } from '../support/certs.js';
import { ALLOW_ALL_YAML } from '../support/policy-yaml.js';
import { parseMetrics, sampleValue } from '../support/prom-parse.js';
import { serveInProcess } from '../support/serve-in-process.js';
import { servePerTest } from '../support/serve-per-test.js';
import { spawnServe } from '../support/server.js';

/** A valid file of exactly `bytes` bytes (a YAML comment pads it). */
const padded = (text: string, bytes: number): string => `${text}#${'x'.repeat(bytes - text.length - 2)}\n`;

const WEB = makeWorkloadCert({ uris: ['spiffe://default/web'] }).urlEncoded;
const REQUEST = { source: { certificate: WEB }, destination: { principal: 'spiffe://default/backend' } };

const start = servePerTest(serveInProcess);

describe('--max-policy-bytes', () => {
  it('a reload over the cap keeps the last good set serving, marks it stale and logs why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtp-set-cap-'));
    writeFileSync(join(dir, 'a.yaml'), padded(ALLOW_ALL_YAML, 600));
    const { server: s, client: c } = await start(['--policies', dir, '--max-policy-bytes', '1KiB']);
    expect((await c.check(REQUEST)).code).toBe(0);

    // Each file is far under --max-policy-file-bytes; together they are over the set's cap.
    writeFileSync(join(dir, 'b.yaml'), padded(ALLOW_ALL_YAML.replace('allow-all', 'allow-more'), 600));
    await s.waitForLog((l) => l.msg === 'policy reload failed; keeping the last good policies');
    expect(s.logs.filter((l) => l.msg === 'policy violation').map((l) => l.violation)).toEqual([
      `${join(dir, 'b.yaml')}:1:1: file: the policy files up to this one add up to 1200 bytes, over the limit of 1024 bytes for the whole set (--max-policy-bytes)`,
    ]);

    const answer = await c.check(REQUEST);
    expect(answer.code).toBe(0);
    expect(answer.metadata.enforced_effective_policy_id).toBe('allow-all');
    const metrics = parseMetrics(await (await fetch(`http://127.0.0.1:${s.httpPort}/metrics`)).text());
    expect(sampleValue(metrics, 'mtp_authz_policy_stale')).toBe(1);
    expect(sampleValue(metrics, 'mtp_authz_policy_generation')).toBe(1);
    expect(sampleValue(metrics, 'mtp_authz_policy_reloads_total', { result: 'failure' })).toBe(1);
  });

  it('a policy set over the cap at start-up is a clear error (exit 1)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtp-set-cap-'));
    writeFileSync(join(dir, 'a.yaml'), padded(ALLOW_ALL_YAML, 600));
    writeFileSync(join(dir, 'b.yaml'), padded(ALLOW_ALL_YAML.replace('allow-all', 'allow-more'), 600));
    const s = spawnServe([
      '--policies',
      dir,
      '--max-policy-bytes',
      '1000',
      '--grpc-address',
      '127.0.0.1:0',
      '--http-address',
      '127.0.0.1:0',
    ]);
    expect(await s.exited).toBe(1);
    expect(s.stderr).toContain(
      `${join(dir, 'b.yaml')}:1:1: file: the policy files up to this one add up to 1200 bytes, over the limit of 1000 bytes for the whole set (--max-policy-bytes)`,
    );
  });
});
