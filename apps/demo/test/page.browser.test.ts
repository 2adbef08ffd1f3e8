import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { type Demo, startDemo } from '../src/demo';

/**
 * The chat page in a real headless Chromium, on each transport: the native WebSocket (`/`) and Socket.IO
 * (`/?transport=socketio`, with the socket.io-client bundle the server serves). Under CI=true a missing Chromium fails
 * the test; elsewhere the suite is skipped with one warning line.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
const ci = process.env.CI === 'true';
if (!available && !ci) {
  console.warn(
    `[page.browser] SKIPPED: no Chromium at ${CHROMIUM} (apt-get install -y chromium); under CI=true this fails`,
  );
}

/** The page's `document`, typed for the few calls made in the browser (this package compiles without DOM types). */
interface PageDocument {
  querySelectorAll(selector: string): { length: number };
  getElementById(id: string): { textContent: string | null } | null;
}
describe.skipIf(!available && !ci)('the chat page in headless Chromium, on both transports', () => {
  let demo: Demo | undefined;
  let browser: Browser | undefined;

  afterAll(async () => {
    await browser?.close();
    await demo?.close();
  });

  it('chats across the transports, shows the ticker, and switches transport with the select', {
    timeout: 60_000,
  }, async () => {
    if (!available) throw new Error(`CI=true and no Chromium at ${CHROMIUM}: install it (apt-get install -y chromium)`);
    demo = await startDemo({ port: 0, env: {}, log: () => {} });
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
    const open = async (query: string) => {
      const page = await browser!.newPage({ viewport: { width: 1100, height: 700 } });
      page.on('pageerror', (error) => errors.push(error.message));
      await page.goto(`${demo!.url}/${query}`);
      await page.waitForSelector('#status[data-status="connected"]', { timeout: 15_000 });
      return page;
    };
    const native = await open('');
    const sio = await open('?transport=socketio');
    expect(await native.inputValue('#transport')).toBe('native');
    expect(await sio.inputValue('#transport')).toBe('socketio');
    expect(
      demo.service
        .getChannelSubscribers('chat.lobby')
        .map((s) => s.transport)
        .sort(),
    ).toEqual(['native', 'socketio']);

    // each page says something; both pages show both lines, in the same order
    await sio.fill('#text', 'hello from Socket.IO');
    await sio.click('#say button');
    await native.waitForFunction(
      () =>
        (globalThis as unknown as { document: PageDocument }).document.querySelectorAll('#messages li').length === 1,
    );
    await native.fill('#text', 'hello from WebSocket');
    await native.click('#say button');
    const lines = (text: string): string => (text.includes('Socket.IO') ? 'sio' : 'ws');
    for (const page of [native, sio]) {
      await page.waitForFunction(
        () =>
          (globalThis as unknown as { document: PageDocument }).document.querySelectorAll('#messages li').length === 2,
      );
      const texts = await page.$$eval('#messages li', (items) =>
        items.map((li) => (li as { textContent: string | null }).textContent ?? ''),
      );
      expect(texts.map(lines)).toEqual(['sio', 'ws']);
    }
    // the ticker reaches the Socket.IO page
    await sio.waitForFunction(
      () =>
        /\d/.test(
          (globalThis as unknown as { document: PageDocument }).document.getElementById('price')?.textContent ?? '',
        ),
      undefined,
      { timeout: 5_000 },
    );

    // the select reloads the page on the other transport
    await native.selectOption('#transport', 'socketio');
    await native.waitForURL(/transport=socketio/);
    await native.waitForSelector('#status[data-status="connected"]', { timeout: 15_000 });
    expect(errors).toEqual([]);
  });
});
