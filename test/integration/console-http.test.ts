/**
 * The console's HTTP surface on a running service (in this process): the static files with their security and cache
 * headers, `--ui=false`, and the JSON reads GET /decisions/recent, /shadow, /status and
 * /evaluation-order after real Checks.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { EvaluationOrder } from '../../src/console/evaluation-order.js';
import type { ReloadReport } from '../../src/console/reload-status.js';
import { CONSOLE_POLICIES } from '../console/fixtures.js';
import { ensureConsoleBuilt, httpCheck } from '../support/console.js';
import { servePerTest } from '../support/serve-per-test.js';
import { policyDir } from '../support/temp-files.js';
import { serveInProcess } from '../support/serve-in-process.js';

const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

interface StatusBody {
  readonly stale: boolean;
  readonly generation: number | null;
  readonly caches: Record<string, unknown>;
  readonly lastReload: ReloadReport | null;
  readonly lastFailedReload: ReloadReport | null;
}

const serve = servePerTest(serveInProcess);
let dir: string;

beforeAll(() => {
  ensureConsoleBuilt();
  dir = policyDir({ 'policies.yaml': CONSOLE_POLICIES }, 'mtp-console-http-');
});

const get = (port: number, path: string, headers: Record<string, string> = {}) =>
  fetch(`http://127.0.0.1:${port}${path}`, { headers, redirect: 'manual' });

describe('GET /ui/', () => {
  it('serves the page, script and style sheet with a CSP without inline script, nosniff and revalidation', async () => {
    const { server } = await serve(['--policies', dir]);
    for (const [path, type] of [
      ['/ui/', 'text/html; charset=utf-8'],
      ['/ui/app.js', 'text/javascript; charset=utf-8'],
      ['/ui/app.css', 'text/css; charset=utf-8'],
    ] as const) {
      const res = await get(server.httpPort, path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toBe(type);
      expect(res.headers.get('content-security-policy')).toBe(CSP);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('cache-control')).toBe('no-cache');
      const etag = res.headers.get('etag') ?? '';
      expect(etag).toMatch(/^"[\w-]{22}"$/);
      expect((await res.text()).length).toBeGreaterThan(0);
      const again = await get(server.httpPort, path, { 'if-none-match': etag });
      expect(again.status).toBe(304);
      expect(await again.text()).toBe('');
    }
    const page = await (await get(server.httpPort, '/ui/')).text();
    // Nothing inline and nothing from elsewhere: one same-origin script and style sheet.
    expect(page).toContain('<script type="module" src="app.js"></script>');
    expect(page).not.toMatch(/<script>|<style|https?:\/\/|\son\w+=/);
    const redirect = await get(server.httpPort, '/ui');
    expect(redirect.status).toBe(308);
    expect(redirect.headers.get('location')).toBe('/ui/');
    expect((await get(server.httpPort, '/ui/../policies')).status).toBe(200); // fetch normalizes
    expect((await get(server.httpPort, '/ui/other.js')).status).toBe(404);
  });

  it('is off with --ui=false and with MTP_AUTHZ_UI=false; the JSON reads stay', async () => {
    const off = (await serve(['--policies', dir, '--ui=false'])).server;
    const byEnv = await serveInProcess(['--policies', dir], { MTP_AUTHZ_UI: 'false' });
    onTestFinished(() => {
      byEnv.kill();
      return byEnv.exited.then(() => undefined);
    });
    for (const [how, server] of [
      ['flag', off],
      ['env', byEnv],
    ] as const) {
      const res = await get(server.httpPort, '/ui/');
      expect(res.status, how).toBe(404);
      expect(await res.json()).toEqual({ status: 404, title: 'Not Found', detail: 'no route for GET /ui/' });
      expect((await get(server.httpPort, '/ui/app.js')).status).toBe(404);
      expect((await get(server.httpPort, '/decisions/recent')).status).toBe(200);
    }
  });
});

describe('GET /decisions/recent', () => {
  it('keeps the last N denies and shadow-denies, newest first, with the decision log fields', async () => {
    const { server, client } = await serve(['--policies', dir, '--recent-decisions', '3']);
    await client.check(httpCheck('spiffe://default/orders', 'spiffe://default/backend')); // allowed: not kept
    for (let i = 0; i < 4; i++) {
      await client.check(
        httpCheck('spiffe://default/web', 'spiffe://default/backend', {
          path: `/deny/${i}?token=secret`,
          requestId: `req-${i}`,
        }),
      );
    }
    await client.check(httpCheck('spiffe://default/audit', 'spiffe://default/backend', { path: '/audit' }));
    const res = await get(server.httpPort, '/decisions/recent');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as {
      capacity: number;
      recorded: number;
      items: Record<string, unknown>[];
    };
    expect(body.capacity).toBe(3);
    expect(body.recorded).toBe(5);
    expect(body.items.map((line) => line.path)).toEqual(['/audit', '/deny/3', '/deny/2']);
    const [shadowDeny, deny] = body.items;
    expect(Object.keys(deny ?? {})).toEqual([
      'time',
      'decision',
      'via',
      'mesh',
      'source',
      'destination',
      'policy',
      'fromIndex',
      'method',
      'host',
      'path',
      'requestId',
    ]);
    expect(deny).toMatchObject({
      decision: 'deny',
      via: 'rule',
      mesh: 'default',
      source: 'spiffe://default/web',
      destination: 'backend',
      policy: 'deny-all',
      fromIndex: 0,
      method: 'GET',
      host: 'backend',
      requestId: 'req-3',
    });
    expect(Date.parse(String(deny?.time))).not.toBeNaN();
    expect(shadowDeny).toMatchObject({ decision: 'shadow_deny', policy: 'allow-orders', fromIndex: 3 });
  });

  it('keeps nothing with --recent-decisions 0', async () => {
    const { server, client } = await serve(['--policies', dir, '--recent-decisions', '0']);
    await client.check(httpCheck('spiffe://default/web', 'spiffe://default/backend'));
    expect(await (await get(server.httpPort, '/decisions/recent')).json()).toEqual({
      capacity: 0,
      recorded: 0,
      items: [],
    });
  });
});

describe('GET /shadow, /status and /evaluation-order', () => {
  it('counts outcomes per shadow policy with examples of the differences', async () => {
    const { server, client } = await serve(['--policies', dir]);
    await client.check(httpCheck('spiffe://default/orders', 'spiffe://default/backend', { path: '/o' }));
    await client.check(httpCheck('spiffe://default/web', 'spiffe://default/backend'));
    await client.check(httpCheck('spiffe://default/web', 'spiffe://default/frontend')); // not selected
    const body = (await (await get(server.httpPort, '/shadow')).json()) as {
      policies: { name: string; counts: unknown; examples: Record<string, unknown>[] }[];
    };
    expect(body.policies).toHaveLength(1);
    const [policy] = body.policies;
    expect(policy).toMatchObject({
      mesh: 'default',
      name: 'a-deny-orders',
      file: join(dir, 'policies.yaml'),
      counts: { same: 1, would_allow: 0, would_deny: 1 },
    });
    expect(policy?.examples).toHaveLength(1);
    expect(policy?.examples[0]).toMatchObject({
      decision: 'allow',
      source: 'spiffe://default/orders',
      path: '/o',
      shadow: { outcome: 'would_deny', action: 'Deny', via: 'rule', policy: 'a-deny-orders', fromIndex: 0 },
    });
  });

  it('reports the generation, cache ratios and a failed reload with every violation', async () => {
    const own = policyDir({ 'policies.yaml': CONSOLE_POLICIES }, 'mtp-console-status-');
    // The bad file below is written whole: a short stability window spares most of the default second.
    const { server, client } = await serve(['--policies', own, '--reload-stability-window', '200ms']);
    await client.check(httpCheck('spiffe://default/web', 'spiffe://default/backend'));
    await client.check(httpCheck('spiffe://default/web', 'spiffe://default/backend'));
    const status = async () => (await (await get(server.httpPort, '/status')).json()) as StatusBody;
    const first = await status();
    expect(first).toMatchObject({ loaded: true, generation: 1, stale: false, policies: 3, lastReload: null });
    // Each Check is decided twice, without and with the shadow policy: a miss each, then a hit each.
    expect(first.caches.decision).toEqual({ hits: 2, misses: 2, hitRatio: 0.5 });
    expect(first.caches.identity).toEqual({ hits: 0, misses: 0, hitRatio: null });

    const bad = join(own, 'bad.yaml');
    writeFileSync(
      bad,
      'type: MeshTrafficPermission\nname: bad\nspec:\n  from:\n    - default: {action: Maybe}\n',
    );
    await expect.poll(async () => (await status()).stale, { timeout: 15_000, interval: 200 }).toBe(true);
    const failed = await status();
    expect(failed.generation).toBe(1);
    expect(failed.lastReload).toMatchObject({ result: 'failure', generation: null, errorCount: 2 });
    expect(failed.lastReload?.errors.map((e) => e.text)).toEqual([
      `${bad}:5:7: spec.from[0].targetRef: in body is required`,
      `${bad}:5:25: spec.from[0].default.action: in body should be one of [Allow Deny AllowWithShadowDeny]`,
    ]);
    expect(failed.lastFailedReload).toEqual(failed.lastReload);
  });

  it('orders the policies of an inbound and refuses a malformed query with the reason', async () => {
    const { server } = await serve(['--policies', dir]);
    const res = await get(server.httpPort, '/evaluation-order?mesh=default&tag=kuma.io%2Fservice%3Dbackend');
    expect(res.status).toBe(200);
    const body = (await res.json()) as EvaluationOrder;
    expect(body.policies.map((p) => [p.name, p.origin])).toEqual([
      ['deny-all', null],
      ['allow-orders', 'zone'],
    ]);
    expect(body.entries.map((e) => [e.policy, e.fromIndex, e.overriddenBy])).toEqual([
      ['deny-all', 0, null],
      ['allow-orders', 0, 3],
      ['allow-orders', 1, 3],
      ['allow-orders', 2, null],
      ['allow-orders', 3, null],
    ]);
    expect(body.shadowPolicies.map((p) => p.name)).toEqual(['a-deny-orders']);

    for (const [query, detail] of [
      ['?mesh=default', 'the tags must include kuma.io/service=SERVICE'],
      ['?mesh=&tag=kuma.io/service=a', 'mesh must not be empty'],
      ['?tag=version', 'tag "version" must read KEY=VALUE'],
      ['?tag=kuma.io/service=a&tag=kuma.io/service=b', 'tag "kuma.io/service" is given twice'],
    ]) {
      const bad = await get(server.httpPort, `/evaluation-order${query}`);
      expect(bad.status, query).toBe(400);
      expect(await bad.json()).toEqual({ status: 400, title: 'Bad Request', detail });
    }
  });
});
