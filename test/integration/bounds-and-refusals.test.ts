/**
 * Against the running service (in this process; the CLI for `validate`): `mtp_authz_policies{mesh}` keeps the
 * mesh label bound however many meshes the policies name; a request Node refuses with 431 leaves a log line;
 * a YAML tag the core schema does not know is refused with its position.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeWorkloadCert } from '../support/certs.js';
import { parseMetrics, sampleValue, seriesOf } from '../support/prom-parse.js';
import { serveInProcess } from '../support/serve-in-process.js';
import { servePerTest } from '../support/serve-per-test.js';
import { REPO } from '../support/server.js';
import { tempDir } from '../support/temp-files.js';

const start = servePerTest(serveInProcess);

const allowAll = (name: string, mesh: string) => `type: MeshTrafficPermission
name: ${name}
mesh: ${mesh}
spec:
  targetRef: {kind: Mesh}
  from:
    - targetRef: {kind: Mesh}
      default: {action: Allow}
`;

describe('mtp_authz_policies{mesh}', () => {
  it('1 523 meshes named by policies give at most 100 mesh label values, the rest under other', async () => {
    const dir = tempDir('mtp-bounds-');
    const docs = Array.from({ length: 1523 }, (_, i) => allowAll(`p-${i}`, `mesh-${i}`));
    writeFileSync(join(dir, 'many.yaml'), docs.join('---\n'));
    const { server: s, client: c } = await start(['--policies', dir]);
    const cert = makeWorkloadCert({ uris: ['spiffe://mesh-1500/web'] }).urlEncoded;
    const answer = await c.check({
      source: { certificate: cert },
      destination: { principal: 'spiffe://mesh-1500/backend' },
    });
    expect(answer.code).toBe(0);

    const families = parseMetrics(await (await fetch(`http://127.0.0.1:${s.httpPort}/metrics`)).text());
    const meshes = seriesOf(families, 'mtp_authz_policies').map((l) => String(l.mesh));
    expect(meshes.length).toBe(100);
    expect(meshes).toContain('other');
    const total = meshes.reduce(
      (sum, mesh) => sum + (sampleValue(families, 'mtp_authz_policies', { mesh }) ?? Number.NaN),
      0,
    );
    expect(total).toBe(1523);
    expect(new Set(seriesOf(families, 'mtp_authz_checks_total').map((l) => l.mesh)).size).toBe(100);
    expect(
      sampleValue(families, 'mtp_authz_checks_total', { mesh: 'other', decision: 'allow', via: 'rule' }),
    ).toBe(1);
  });
});

describe('requests Node refuses', () => {
  it('a request with headers over the limit is answered 431 and leaves a log line', async () => {
    const dir = tempDir('mtp-bounds-');
    writeFileSync(join(dir, 'p.yaml'), allowAll('allow-all', 'default'));
    const { server: s } = await start(['--policies', dir]);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: s.httpPort,
          path: '/healthz',
          headers: { 'x-big': 'x'.repeat(20_000) },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(431);
    const line = await s.waitForLog((l) => l.msg === 'HTTP request failed');
    expect(line).toMatchObject({ err: { code: 'HPE_HEADER_OVERFLOW', refusedWith: 431 } });
    expect((await fetch(`http://127.0.0.1:${s.httpPort}/healthz`)).status).toBe(200);
  });
});

describe('unknown YAML tags', () => {
  it('validate refuses !foo with FILE:LINE:COL and exits 1', () => {
    const dir = tempDir('mtp-bounds-');
    const file = join(dir, 'tagged.yaml');
    writeFileSync(file, allowAll('tagged', 'default').replace('action: Allow', 'action: !foo Allow'));
    const run = spawnSync(process.execPath, [join(REPO, 'dist/cli.js'), 'validate', file], {
      encoding: 'utf8',
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toBe(
      `${file}:8:25: yaml: unknown YAML tag "!foo": only the YAML core schema's tags are accepted\n`,
    );
  });
});
