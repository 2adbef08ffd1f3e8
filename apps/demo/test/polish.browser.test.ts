import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { type Demo, startDemo } from '../src/demo';

/**
 * The page as a new user meets it, in headless Chromium, on the default memory broker: the intro says what to try;
 * a new tab opens on the recent chat history; the Kafka form is disabled with a hint when the server runs no Kafka
 * bridge; a line typed while the server is down shows as pending and is delivered once it is back; after the
 * restart (a new history: offsets from 1 again) the chat keeps (epoch, offset) order with a divider and says
 * `recovered: false`; the header fits a 390 px wide phone. Screenshots go to `DEMO_SHOTS_DIR` (default
 * test-artifacts/): polish-desktop.png, polish-pending.png, polish-restarted.png, polish-phone.png.
 * Under CI=true a missing Chromium fails the test; elsewhere the suite is skipped with one warning line.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
const ci = process.env.CI === 'true';
if (!available && !ci) {
  console.warn(
    `[polish.browser] SKIPPED: no Chromium at ${CHROMIUM} (apt-get install -y chromium); under CI=true this fails`,
  );
}
const shots = process.env.DEMO_SHOTS_DIR ?? join(__dirname, '..', '..', '..', 'test-artifacts');

/** The page's `document`, typed for the few calls made in the browser (this package compiles without DOM types). */
interface PageDocument {
  querySelectorAll(selector: string): { length: number };
  documentElement: { scrollWidth: number; clientWidth: number };
}

/** The chat list as the user sees it, top to bottom. */
const chatRows = (page: Page) =>
  page.$$eval('#messages li', (items) =>
    items.map((li) => {
      const el = li as unknown as {
        className: string;
        dataset: Record<string, string | undefined>;
        querySelector(s: string): { textContent: string | null } | null;
      };
      return {
        kind: el.className === '' ? 'message' : el.className,
        epoch: el.dataset.epoch ?? '',
        offset: el.dataset.offset === undefined ? null : Number(el.dataset.offset),
        text: el.querySelector('span')?.textContent ?? '',
        state: el.dataset.state ?? '',
      };
    }),
  );

describe.skipIf(!available && !ci)('the page as a new user meets it (headless Chromium)', () => {
  let demo: Demo | undefined;
  let browser: Browser | undefined;

  afterAll(async () => {
    await browser?.close();
    await demo?.close();
  });

  it('intro, history on load, Kafka off, a pending line across a restart, (epoch, offset) order, a 390 px header', {
    timeout: 90_000,
  }, async () => {
    if (!available) throw new Error(`CI=true and no Chromium at ${CHROMIUM}: install it (apt-get install -y chromium)`);
    mkdirSync(shots, { recursive: true });
    demo = await startDemo({ port: 0, env: {}, log: () => {} });
    const port = demo.port;
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
    const open = async (viewport: { width: number; height: number }) => {
      // a context each: separate tabs that do not share a connection
      const context = await browser!.newContext({ viewport });
      const page = await context.newPage();
      page.on('pageerror', (error) => errors.push(error.message));
      await page.goto(`${demo!.url}/`);
      await page.waitForSelector('#status[data-status="connected"]', { timeout: 15_000 });
      return page;
    };
    const say = async (page: Page, text: string) => {
      await page.fill('#text', text);
      await page.click('#say button[type="submit"]');
    };
    const delivered = (page: Page, count: number) =>
      page.waitForFunction(
        (n) =>
          (globalThis as unknown as { document: PageDocument }).document.querySelectorAll('#messages li[data-offset]')
            .length === n,
        count,
        {
          timeout: 15_000,
        },
      );

    // 1. the intro says what to try
    const ann = await open({ width: 1280, height: 800 });
    const intro = (await ann.textContent('#intro')) ?? '';
    expect(intro).toMatch(/second tab/i);
    expect(intro).toMatch(/stop the server/i);
    expect(intro).toMatch(/transport/i);

    // 3. no Kafka bridge on this server: the form is disabled and says why; nothing can be typed into it
    expect(await ann.getAttribute('.kafka', 'data-enabled')).toBe('false');
    expect(await ann.isDisabled('#note')).toBe(true);
    expect(await ann.isDisabled('#to-kafka button')).toBe(true);
    expect(await ann.textContent('#kafkainfo')).toMatch(/Kafka is off.*BROKER=kafka/);

    // 2. a tab opened later shows the recent history
    await say(ann, 'one');
    await say(ann, 'two');
    await say(ann, 'three');
    await delivered(ann, 3);
    const bob = await open({ width: 1280, height: 800 });
    await delivered(bob, 3);
    expect((await chatRows(bob)).map((r) => [r.text, r.offset])).toEqual([
      ['one', 1],
      ['two', 2],
      ['three', 3],
    ]);
    await bob.screenshot({ path: join(shots, 'polish-desktop.png') });

    // 4. the server stops: a line typed now is shown as pending, nothing is lost
    const firstEpoch = (await chatRows(ann))[0]!.epoch;
    await demo.close();
    await ann.waitForSelector('#status:not([data-status="connected"])', { timeout: 15_000 });
    await say(ann, 'typed while down');
    await ann.waitForSelector('#messages li.pending[data-state="sending"]', { timeout: 5_000 });
    expect((await chatRows(ann)).at(-1)).toMatchObject({ kind: 'pending', text: 'typed while down' });
    expect(await ann.inputValue('#text')).toBe('');
    await ann.screenshot({ path: join(shots, 'polish-pending.png') });

    // the server comes back on the same port, with the memory broker: a new history (epoch), offsets from 1 again
    demo = await startDemo({ port, env: {}, log: () => {} });
    for (const page of [ann, bob]) {
      await page.waitForSelector('#status[data-status="connected"]', { timeout: 20_000 });
      await delivered(page, 4);
    }
    await say(bob, 'after the restart');
    for (const page of [ann, bob]) await delivered(page, 5);

    // 5. (epoch, offset) order: the old history, a divider, the new one; the page says what the client reported
    for (const page of [ann, bob]) {
      const rows = await chatRows(page);
      expect(rows.map((r) => (r.kind === 'divider' ? 'divider' : `${r.text}#${r.offset}`))).toEqual([
        'one#1',
        'two#2',
        'three#3',
        'divider',
        'typed while down#1',
        'after the restart#2',
      ]);
      const epochs = rows.filter((r) => r.kind === 'message').map((r) => r.epoch);
      expect(epochs.slice(0, 3)).toEqual([firstEpoch, firstEpoch, firstEpoch]);
      expect(new Set(epochs.slice(3)).size).toBe(1);
      expect(epochs[3]).not.toBe(firstEpoch);
      expect(await page.getAttribute('#recovery', 'data-recovered')).toBe('false');
      expect(await page.textContent('#recovery')).toMatch(/new history \(recovered: false\)/);
      expect(await page.getAttribute('#channels tr[data-channel="chat.lobby"]', 'data-recovered')).toBe('false');
    }
    expect(await ann.$$('#messages li.pending')).toHaveLength(0);
    await ann.screenshot({ path: join(shots, 'polish-restarted.png') });

    // 6. a phone-sized viewport: no horizontal scroll, the header's controls inside the screen and usable
    const phone = await open({ width: 390, height: 844 });
    await phone.screenshot({ path: join(shots, 'polish-phone.png'), fullPage: true });
    expect(
      await phone.evaluate(
        () => (globalThis as unknown as { document: PageDocument }).document.documentElement.scrollWidth,
      ),
    ).toBeLessThanOrEqual(390);
    for (const selector of ['header h1', '#transport', '#status', 'header .nav', '#text', '#say button']) {
      const box = await phone.locator(selector).boundingBox();
      expect(box, selector).not.toBeNull();
      expect(box!.x, selector).toBeGreaterThanOrEqual(0);
      expect(box!.x + box!.width, selector).toBeLessThanOrEqual(390);
    }
    await phone.screenshot({ path: join(shots, 'polish-phone.png') });
    await phone.selectOption('#transport', 'socketio');
    await phone.waitForURL(/transport=socketio/);
    await phone.waitForSelector('#status[data-status="connected"]', { timeout: 15_000 });
    expect(
      await phone.evaluate(
        () => (globalThis as unknown as { document: PageDocument }).document.documentElement.scrollWidth,
      ),
    ).toBeLessThanOrEqual(390);
    expect(errors).toEqual([]);
  });
});
