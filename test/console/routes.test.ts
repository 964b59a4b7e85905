/** The console routes' refusals, in-process: no policy set yet, an unbuilt console, too many tags. */
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { RecentDecisions } from '../../src/console/recent-decisions.js';
import { ReloadStatus } from '../../src/console/reload-status.js';
import { type ConsoleContext, consoleRoutes } from '../../src/console/routes.js';
import { ShadowRecord } from '../../src/console/shadow-record.js';
import { type HttpService, startHttpServer } from '../../src/http/server.js';
import { ServiceState } from '../../src/authz/state.js';

let http: HttpService | undefined;
afterEach(async () => {
  await http?.close();
  http = undefined;
});

async function serveConsole(assets: ConsoleContext['assets']): Promise<(path: string) => Promise<Response>> {
  const context: ConsoleContext = {
    current: () => undefined,
    recent: new RecentDecisions(10),
    shadows: new ShadowRecord(),
    reloads: new ReloadStatus(),
    registry: new Registry(),
    assets,
  };
  http = await startHttpServer(new ServiceState(), { host: '127.0.0.1', port: 0 }, consoleRoutes(context));
  const port = http.port;
  return (path) => fetch(`http://127.0.0.1:${port}${path}`);
}

describe('console routes', () => {
  it('answer 503 before the first policy set is loaded, and status says nothing is loaded', async () => {
    const get = await serveConsole(undefined);
    for (const path of ['/shadow', '/evaluation-order?tag=kuma.io/service=a']) {
      const res = await get(path);
      expect(res.status, path).toBe(503);
      expect(await res.json()).toEqual({
        status: 503,
        title: 'Service Unavailable',
        detail: 'no policy set loaded',
      });
    }
    expect(await (await get('/status')).json()).toEqual({
      loaded: false,
      generation: null,
      loadedAt: null,
      stale: false,
      policies: 0,
      lastReload: null,
      lastFailedReload: null,
      caches: {
        decision: { hits: 0, misses: 0, hitRatio: null },
        identity: { hits: 0, misses: 0, hitRatio: null },
      },
    });
  });

  it('refuse more than 64 tag parameters', async () => {
    const get = await serveConsole(undefined);
    const query = Array.from({ length: 65 }, (_, i) => `tag=k${i}=v`).join('&');
    const res = await get(`/evaluation-order?${query}`);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      status: 400,
      title: 'Bad Request',
      detail: 'at most 64 tag parameters',
    });
  });

  it('say how to build the console when its files are missing', async () => {
    const get = await serveConsole(null);
    const res = await get('/ui/');
    expect(res.status).toBe(503);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await res.text()).toBe('the console is not built: run npm run build\n');
  });

  it('have no /ui routes when the console is off', async () => {
    const get = await serveConsole(undefined);
    expect((await get('/ui/')).status).toBe(404);
    expect((await get('/decisions/recent')).status).toBe(200);
  });
});
