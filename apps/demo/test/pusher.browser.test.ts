import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { type Demo, startDemo } from '../src/demo';

/**
 * The page on the Pusher protocol (`/?transport=pusher`: Laravel Echo 2 + pusher-js 8, bundled by Vite) in a real
 * headless Chromium against the demo server with JWT_SECRET set: two signed-in users on Pusher pages chat (through
 * `POST /demo/say`) and see each other in `presence-lobby` (Echo.join: here/joining/leaving, through
 * `POST /broadcasting/auth`), a typing whisper crosses, and a native page (`/`) of a third user chats with them on the
 * same channels and is in the same presence list. Under CI=true a missing Chromium fails the test; elsewhere the
 * suite is skipped with one warning line. Screenshot: test-artifacts/demo-pusher.png.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
const ci = process.env.CI === 'true';
if (!available && !ci) {
  console.warn(
    `[pusher.browser] SKIPPED: no Chromium at ${CHROMIUM} (apt-get install -y chromium); under CI=true this fails`,
  );
}
const JWT_SECRET = 'a-demo-jwt-secret-of-at-least-32-bytes!!';
const artifacts = join(__dirname, '..', '..', '..', 'test-artifacts');

/** The page's `document`, typed for the few calls made in the browser (this package compiles without DOM types). */
interface PageDocument {
  querySelectorAll(selector: string): { length: number };
  getElementById(id: string): { textContent: string | null } | null;
}
const count = (page: Page, selector: string, n: number, timeout = 15_000): Promise<unknown> =>
  page.waitForFunction(
    ([s, k]) =>
      (globalThis as unknown as { document: PageDocument }).document.querySelectorAll(s as string).length === k,
    [selector, n] as const,
    { timeout },
  );
const textOf = (page: Page, id: string, pattern: RegExp, timeout = 10_000): Promise<unknown> =>
  page.waitForFunction(
    ([i, p]) =>
      new RegExp(p as string).test(
        (globalThis as unknown as { document: PageDocument }).document.getElementById(i as string)?.textContent ?? '',
      ),
    [id, pattern.source] as const,
    { timeout },
  );
const lines = (page: Page): Promise<string[]> =>
  page.$$eval('#messages li', (items) =>
    items.map((li) => {
      const el = li as unknown as { querySelectorAll(s: string): { textContent: string | null }[] };
      const [who, said] = [...el.querySelectorAll('b, span')].map((e) => e.textContent ?? '');
      return `${who}: ${said}`;
    }),
  );
const members = (page: Page): Promise<string[]> =>
  page.$$eval('#members li', (items) =>
    items.map((li) => (li as { textContent: string | null }).textContent ?? '').sort(),
  );

describe.skipIf(!available && !ci)('the page on the Pusher protocol (Laravel Echo) in headless Chromium', () => {
  let demo: Demo | undefined;
  let browser: Browser | undefined;

  afterAll(async () => {
    await browser?.close();
    await demo?.close();
  });

  it('two Echo pages chat and see each other in presence-lobby; a native page chats with them across transports', {
    timeout: 90_000,
  }, async () => {
    if (!available) throw new Error(`CI=true and no Chromium at ${CHROMIUM}: install it (apt-get install -y chromium)`);
    demo = await startDemo({ port: 0, env: { JWT_SECRET }, log: () => {} });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-dev-shm-usage',
      ],
    });
    const errors: string[] = [];
    const contexts: BrowserContext[] = [];
    /** One user (a browser context of its own, the name stored before the page loads) on one transport. */
    const open = async (name: string, query: string): Promise<Page> => {
      const context = await browser!.newContext({ viewport: { width: 1100, height: 760 } });
      contexts.push(context);
      await context.addInitScript(
        (n) =>
          (globalThis as unknown as { localStorage: { setItem(k: string, v: string): void } }).localStorage.setItem(
            'unisocket-demo-name',
            n,
          ),
        name,
      );
      const page = await context.newPage();
      page.on('pageerror', (error) => errors.push(`${name}: ${error.message}`));
      await page.goto(`${demo!.url}/${query}`);
      await page.waitForSelector('#status[data-status="connected"]', { timeout: 15_000 });
      return page;
    };

    const ann = await open('Ann', '?transport=pusher');
    expect(await ann.inputValue('#transport')).toBe('pusher');
    expect(await ann.textContent('#via')).toContain('/app/demo-app-key');
    // Echo.join('lobby'): here() with Ann alone
    await count(ann, '#members li[data-user]', 1);
    expect(await members(ann)).toEqual(['Ann']);

    const bob = await open('Bob', '?transport=pusher');
    // joining() on Ann's page, here() with both on Bob's
    await count(ann, '#members li', 2);
    await count(bob, '#members li', 2);
    expect(await members(bob)).toEqual(['Ann', 'Bob']);

    const cy = await open('Cy', '');
    expect(await cy.inputValue('#transport')).toBe('native');
    // one presence list for all transports: the native user joins the Pusher users' presence-lobby
    for (const page of [ann, bob, cy]) await count(page, '#members li', 3);
    expect(await members(ann)).toEqual(['Ann', 'Bob', 'Cy']);
    expect(await members(cy)).toEqual(['Ann', 'Bob', 'Cy']);
    expect(
      demo.service
        .getChannelSubscribers('chat.lobby')
        .map((s) => s.transport)
        .sort(),
    ).toEqual(['native', 'pusher', 'pusher']);

    // a Pusher page says something: both Pusher pages and the native page get it
    await ann.fill('#text', 'hello from Echo');
    // typing on Ann's Pusher page is a client-typing whisper: Bob (Pusher) and Cy (native) see it, Ann does not
    await textOf(bob, 'typing', /Ann is typing/);
    await textOf(cy, 'typing', /Ann is typing/);
    await ann.click('#say button');
    for (const page of [ann, bob, cy]) await count(page, '#messages li', 1);
    expect(await lines(cy)).toEqual(['Ann: hello from Echo']);
    // the native page shows the offset the Hub gave the Pusher page's publish
    expect(await cy.getAttribute('#messages li', 'data-offset')).toBe('1');
    expect(await ann.textContent('#typing')).toBe('');

    // the native page answers; the Pusher pages get it, then Bob answers from Pusher
    await cy.fill('#text', 'hello from WebSocket');
    await cy.click('#say button');
    for (const page of [ann, bob]) await count(page, '#messages li', 2);
    await bob.fill('#text', 'and from Bob');
    await bob.click('#say button');
    for (const page of [ann, bob, cy]) {
      await count(page, '#messages li', 3);
      expect(await lines(page)).toEqual(['Ann: hello from Echo', 'Cy: hello from WebSocket', 'Bob: and from Bob']);
    }
    mkdirSync(artifacts, { recursive: true });
    await ann.screenshot({ path: join(artifacts, 'demo-pusher.png'), fullPage: true });

    // Bob leaves: leaving() on Ann's page (after the presence grace period), and on the native page
    await contexts[1]!.close();
    await count(ann, '#members li', 2, 15_000);
    await count(cy, '#members li', 2, 15_000);
    expect(await members(ann)).toEqual(['Ann', 'Cy']);
    expect(errors).toEqual([]);
  });
});
