/**
 * The console in a real headless Chromium (Debian's `chromium`, driven by playwright-core; no
 * browser is ever downloaded) against a running `mtp-authz serve`: every page loads, an explain
 * that is denied and one that is allowed highlight the deciding entry, a broken policy file shows
 * up on Status, and markup from policies, SANs and headers stays text. Screenshots are written to
 * test-artifacts/console/.
 *
 * Without /usr/bin/chromium the suite is skipped with a message — except under CI=true, where a
 * missing browser is a failure.
 */
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type TestClient } from '../authz/wire.js';
import { makeWorkloadCert } from '../support/certs.js';
import { ensureConsoleBuilt, httpCheck } from '../support/console.js';
import { killServe, REPO, type StartedServe, startServe } from '../support/server.js';
import { CONSOLE_POLICIES, MARKUP_FILE_NAME, MARKUP_POLICY } from './fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(REPO, 'test-artifacts/console');
const haveBrowser = existsSync(CHROMIUM);
const inCi = process.env.CI === 'true';

if (!haveBrowser && !inCi) {
  console.warn(`console browser tests skipped: ${CHROMIUM} is absent (apt-get install -y chromium)`);
}

describe('the browser is there in CI', () => {
  it.runIf(inCi)('finds /usr/bin/chromium', () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: .ci/run installs the chromium package`).toBe(true);
  });
});

describe.skipIf(!haveBrowser)('operator console in Chromium', () => {
  let server: StartedServe;
  let client: TestClient;
  let browser: BrowserContext;
  let page: Page;
  let dir: string;
  let base: string;

  beforeAll(async () => {
    ensureConsoleBuilt();
    mkdirSync(ARTIFACTS, { recursive: true });
    dir = mkdtempSync(join(tmpdir(), 'mtp-console-'));
    writeFileSync(join(dir, 'policies.yaml'), CONSOLE_POLICIES);
    writeFileSync(join(dir, MARKUP_FILE_NAME), MARKUP_POLICY);
    server = await startServe(['--policies', dir]);
    base = `http://127.0.0.1:${server.httpPort}`;
    client = connect(server.grpcTarget);
    // A denied request whose path and request id are markup, and a shadow difference.
    await client.check(
      httpCheck('spiffe://default/web', 'spiffe://default/backend', {
        path: '/<b class=injected>path</b>',
        requestId: '<img src=x class=injected>',
      }),
    );
    await client.check(
      httpCheck('spiffe://default/orders', 'spiffe://default/backend', { path: '/orders/1' }),
    );

    // A fresh profile each run (playwright passes it as --user-data-dir).
    browser = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'mtp-chromium-')), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 800 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage();
    // Any request leaving the service's origin would break an air-gapped console.
    page.on('request', (request) => {
      if (!request.url().startsWith(base)) throw new Error(`external fetch: ${request.url()}`);
    });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    client?.close();
    await killServe(server);
  });

  const noInjectedElements = async () =>
    expect(await page.locator('.injected').count(), 'markup became elements').toBe(0);

  async function explain(tags: string, sans: string[]) {
    await page.goto('about:blank'); // a fresh page: no answer left from the previous explain
    await page.goto(`${base}/ui/#/explain`);
    await page.getByLabel('Destination mesh').fill('default');
    await page.getByLabel(/^Inbound tags/).fill(tags);
    await page.getByLabel('URI SANs', { exact: true }).check();
    await page.getByLabel(/^Client URI SANs/).fill(sans.join('\n'));
    await page.getByRole('button', { name: 'Explain' }).click();
    await page.locator('#explain-answer').waitFor();
  }

  it('explains a denied request and highlights the deciding entry', async () => {
    await explain('kuma.io/service=backend', ['spiffe://default/web']);
    const answer = page.locator('#explain-answer');
    await expect.poll(() => answer.locator('.decision').innerText()).toContain('Deny');
    expect(await answer.locator('.decided-by').innerText()).toBe('deny-all from[0]');
    expect(await answer.locator('.reason').innerText()).toBe(
      'decided by a from entry (the last one covering the client)',
    );
    const decided = answer.locator('tr[aria-current="true"]');
    expect(await decided.count()).toBe(1);
    expect(await decided.locator('td').nth(1).innerText()).toBe('deny-all');
    expect(await decided.locator('td').nth(2).innerText()).toBe('from[0]');
    await page.screenshot({ path: join(ARTIFACTS, 'explain-denied.png'), fullPage: true });
  });

  it('explains an allowed request: the last covering entry decides, earlier ones are unreachable', async () => {
    await explain('kuma.io/service=backend', ['spiffe://default/orders']);
    const answer = page.locator('#explain-answer');
    await expect.poll(() => answer.locator('.decision').innerText()).toContain('Allow');
    expect(await answer.locator('.decided-by').innerText()).toBe('allow-orders from[2]');
    const rows = answer.locator('table.entries tbody tr');
    expect(await rows.count()).toBe(5);
    const decided = answer.locator('tr[aria-current="true"]');
    expect(await decided.locator('td').first().innerText()).toBe('4');
    expect(await decided.innerText()).toContain('Decided this request');
    expect(await rows.nth(1).innerText()).toContain('Unreachable: entry #4 always overrides it');
    expect(await rows.nth(2).innerText()).toContain('Unreachable: entry #4 always overrides it');
    expect(await answer.locator('li.decided').innerText()).toContain('allow-orders');
    expect(await answer.locator('li.decided').innerText()).toContain('origin: zone');
    await page.screenshot({ path: join(ARTIFACTS, 'explain-allowed.png'), fullPage: true });
  });

  it('explains a pasted PEM certificate like its SANs', async () => {
    const cert = makeWorkloadCert({ uris: ['spiffe://default/orders', 'kuma://version/v2'] });
    await page.goto('about:blank');
    await page.goto(`${base}/ui/#/explain`);
    await page.getByLabel(/^Inbound tags/).fill('kuma.io/service=backend');
    await page.getByLabel('PEM certificate', { exact: true }).check();
    await page.getByLabel('Client certificate (PEM)').fill(cert.pem);
    await page.getByRole('button', { name: 'Explain' }).click();
    const answer = page.locator('#explain-answer');
    await answer.locator('tr[aria-current="true"]').waitFor();
    // orders v2 is covered by from[1] (Deny) and from[2] (Allow); the later one wins.
    expect(await answer.locator('.decided-by').innerText()).toBe('allow-orders from[2]');
    expect(await answer.locator('.decision').innerText()).toContain('Allow');
  });

  it('shows the evaluation order on Policies, with files', async () => {
    await page.goto(`${base}/ui/#/policies`);
    await page.getByLabel(/^Inbound tags/).fill('kuma.io/service=backend');
    await page.getByRole('button', { name: 'Show evaluation order' }).click();
    const order = page.locator('.order');
    await order.waitFor();
    const policies = await order.locator('ol.policies > li').allInnerTexts();
    expect(policies.map((t) => t.split(/\s/)[0])).toEqual(['deny-all', 'allow-orders']);
    expect(await order.innerText()).toContain('Shadow policies selecting this inbound (not enforced)');
    expect(await order.innerText()).toContain('a-deny-orders');
    expect(await order.innerText()).toContain(`${join(dir, 'policies.yaml')}:`);
    await page.screenshot({ path: join(ARTIFACTS, 'policies.png'), fullPage: true });
  });

  it('lists recent denies, and shadow differences with an example', async () => {
    await page.goto(`${base}/ui/#/recent`);
    const table = page.locator('table.log');
    await table.waitFor();
    const text = await table.innerText();
    expect(text).toContain('spiffe://default/web');
    expect(text).toContain('deny-all from[0]');
    await page.screenshot({ path: join(ARTIFACTS, 'recent.png'), fullPage: true });

    await page.goto(`${base}/ui/#/shadow`);
    const card = page.locator('.card', { hasText: 'a-deny-orders' });
    await card.waitFor();
    const cardText = await card.innerText();
    expect(cardText).toMatch(/WOULD DENY\s*1/i);
    expect(cardText).toContain('would_deny: Deny by a-deny-orders from[0]');
    expect(cardText).toContain('/orders/1');
    await page.screenshot({ path: join(ARTIFACTS, 'shadow.png'), fullPage: true });
  });

  it('shows the generation on Status, then the violation of a bad file with FILE:LINE:COL', async () => {
    await page.goto(`${base}/ui/#/status`);
    // The generation the server reports (a reload may already have happened since start-up).
    const served = async (): Promise<string> =>
      String(((await (await fetch(`${base}/policies`)).json()) as { generation: number }).generation);
    await expect
      .poll(async () => {
        await page.getByRole('button', { name: 'Refresh' }).click();
        return (await page.locator('#status-generation').innerText()) === (await served());
      })
      .toBe(true);
    const bad = join(dir, 'broken.yaml');
    writeFileSync(bad, 'type: MeshTrafficPermission\nname: broken\nmesh: default\nspec:\n  from: []\n');
    await expect
      .poll(
        async () => {
          await page.getByRole('button', { name: 'Refresh' }).click();
          return page.locator('.violations').allInnerTexts();
        },
        { timeout: 20_000, interval: 500 },
      )
      .toEqual([`${bad}:5:9: spec.from: needs at least one item`]);
    expect(await page.locator('main').innerText()).toContain('yes: the newest files failed to load');
    await page.screenshot({ path: join(ARTIFACTS, 'status-reload-error.png'), fullPage: true });
  });

  it('shows markup from file names, SANs, tags and headers as text', async () => {
    await explain('kuma.io/service=markup', ['spiffe://default/web']);
    await page.locator('.order').waitFor();
    expect(await page.locator('#explain-answer').innerText()).toContain(MARKUP_FILE_NAME);
    await noInjectedElements();

    await explain('kuma.io/service=backend, version=<b class=injected>v1</b>', ['spiffe://default/web']);
    await page.locator('.order').waitFor();
    expect(await page.locator('.order').innerText()).toContain('version=<b class=injected>v1</b>');
    await noInjectedElements();

    // A SAN that is markup is no identity; the answer says so and the SAN stays text in the form.
    const markupSan = 'spiffe://default/<img src=x class=injected>';
    await explain('kuma.io/service=backend', [markupSan]);
    expect(await page.locator('.reason').innerText()).toBe('the client presented no valid workload identity');
    expect(await page.getByLabel(/^Client URI SANs/).inputValue()).toBe(markupSan);
    await noInjectedElements();

    await page.goto(`${base}/ui/#/recent`);
    await page.locator('table.log').waitFor();
    const recent = await page.locator('table.log').innerText();
    expect(recent).toContain('/<b class=injected>path</b>');
    expect(recent).toContain('x-request-id <img src=x class=injected>');
    await noInjectedElements();

    await page.goto(`${base}/ui/#/policies`);
    await page.locator('.card').first().waitFor();
    expect(await page.locator('main').innerText()).toContain(MARKUP_FILE_NAME);
    await noInjectedElements();
  });

  it('fits a phone: no page-wide horizontal scrolling', async () => {
    const phone = await browser.newPage();
    try {
      await phone.setViewportSize({ width: 390, height: 844 });
      await phone.goto(`${base}/ui/#/explain`);
      await phone.getByLabel(/^Inbound tags/).fill('kuma.io/service=backend');
      await phone.getByLabel(/^Client URI SANs/).fill('spiffe://default/orders');
      await phone.getByRole('button', { name: 'Explain' }).click();
      await phone.locator('table.entries').waitFor();
      // Page script as text: the test itself is compiled without the DOM library.
      const overflow = await phone.evaluate<number>(
        'document.documentElement.scrollWidth - document.documentElement.clientWidth',
      );
      expect(overflow).toBeLessThanOrEqual(0);
      await phone.screenshot({ path: join(ARTIFACTS, 'explain-phone.png'), fullPage: true });
    } finally {
      await phone.close();
    }
  });

  it('moves between pages with the keyboard', async () => {
    await page.bringToFront();
    await page.goto('about:blank');
    await page.goto(`${base}/ui/#/explain`);
    await page.locator('nav').waitFor();
    let focused = '';
    for (let i = 0; i < 6 && focused !== 'Policies'; i++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate<string>(
        "document.activeElement === document.body ? '' : (document.activeElement?.textContent ?? '')",
      );
    }
    expect(focused).toBe('Policies');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.url()).toMatch(/#\/policies$/);
    // The page marks its link after the route changes: wait for the mark, not only the URL.
    await expect.poll(() => page.locator('nav a[aria-current="page"]').innerText()).toBe('Policies');
  });
});
