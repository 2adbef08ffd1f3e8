import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type UnifiedWebSocketService, createUnifiedWebSocketService } from '@unisocket/server';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, skipWithoutChromium } from './chromium';
import { sleep, waitFor } from './helpers';

/**
 * `shareConnection` in a real headless Chromium: pages of one browser context (one origin) share one WebSocket
 * through the tab that holds the Web Lock; closing that page hands the connection to another without losing a
 * message. The page runs the browser bundle (dist/unisocket.browser.js: run `pnpm build` first).
 */

const skip = skipWithoutChromium('shared-connection.browser');
const bundle = join(__dirname, '..', 'dist', 'unisocket.browser.js');

const PAGE = `<!doctype html><meta charset="utf-8"><title>tab</title>
<script type="module">
  import { createClient } from '/unisocket.browser.js';
  const client = createClient({ url: '/ws', shareConnection: true, reconnect: { initialDelayMs: 50, maxDelayMs: 1000 } });
  window.got = [];
  window.client = client;
  client.subscribe('feed').onMessage((m) => window.got.push(m.offset));
  window.role = () => client.connectionSharing.getSnapshot().role;
  window.ready = client.connect().then(() => client.subscribe('feed').whenSubscribed()).then(() => true);
</script>`;

interface Site {
  server: Server;
  service: UnifiedWebSocketService;
  url: string;
  close(): Promise<void>;
}

async function startSite(): Promise<Site> {
  const service = createUnifiedWebSocketService({ permissions: { publish: ['public'] } });
  const js = await readFile(bundle);
  const server = createServer((req, res) => {
    if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
    } else if (req.url === '/unisocket.browser.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
    } else service.httpHandler(req, res);
  });
  await service.initialize(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    service,
    url: `http://127.0.0.1:${port}/`,
    async close() {
      await service.shutdown();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const got = (page: Page): Promise<number[]> => page.evaluate(() => (window as unknown as { got: number[] }).got);
const role = (page: Page): Promise<string> => page.evaluate(() => (window as unknown as { role: () => string }).role());

async function openTab(context: BrowserContext, site: Site, errors: string[]): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(site.url);
  await page.evaluate(() => (window as unknown as { ready: Promise<boolean> }).ready);
  return page;
}

describe.skipIf(skip)('shareConnection in headless Chromium', () => {
  let browser: Browser;
  let site: Site | undefined;
  const errors: string[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });
  afterEach(async () => {
    await site?.close();
    site = undefined;
    expect(errors).toEqual([]);
    errors.length = 0;
  });

  it('two pages share one WebSocket; closing the leader page hands over without losing a message', {
    timeout: 60_000,
  }, async () => {
    site = await startSite();
    const s = site;
    const context = await browser.newContext();
    const first = await openTab(context, s, errors);
    const second = await openTab(context, s, errors);
    expect(await role(first)).toBe('leader');
    expect(await role(second)).toBe('follower');
    expect(s.service.getConnectionCount()).toBe(1);
    expect(s.service.getChannelSubscribers('feed')).toHaveLength(1);

    for (let i = 1; i <= 5; i++) await s.service.broadcast('feed', 'n', i);
    await waitFor(() => true);
    await expect.poll(() => got(second)).toEqual(range(1, 5));
    expect(await got(first)).toEqual(range(1, 5));

    // the follower publishes through the leader
    const ack = await second.evaluate(() =>
      (
        window as unknown as { client: { publish: (c: string, e: string, d: unknown) => Promise<{ offset: number }> } }
      ).client.publish('feed', 'n', 'from the follower'),
    );
    expect(ack.offset).toBe(6);
    await expect.poll(() => got(first)).toEqual(range(1, 6));

    // messages keep coming while the leader page closes
    const total = 150;
    const publishing = (async () => {
      for (let i = 7; i <= total; i++) {
        await s.service.broadcast('feed', 'n', i);
        await sleep(4);
      }
    })();
    await expect.poll(async () => (await got(second)).length, { timeout: 5_000 }).toBeGreaterThan(30);
    await first.close();
    await publishing;
    await expect.poll(async () => (await got(second)).length, { timeout: 15_000 }).toBe(total);
    expect(await got(second)).toEqual(range(1, total));
    expect(await role(second)).toBe('leader');
    await waitFor(() => s.service.getConnectionCount() === 1, 5_000, 'one connection, from the new leader');
    const recovered = await second.evaluate(
      () =>
        (
          window as unknown as {
            client: { getSnapshot(): { channels: Record<string, { recovered: boolean | null }> } };
          }
        ).client.getSnapshot().channels.feed!.recovered,
    );
    expect(recovered).toBe(true);
    await context.close();
  });

  it('three pages: the leader closes, a follower takes over and the other follows it; nothing is lost', {
    timeout: 60_000,
  }, async () => {
    site = await startSite();
    const s = site;
    const context = await browser.newContext();
    const pages = [
      await openTab(context, s, errors),
      await openTab(context, s, errors),
      await openTab(context, s, errors),
    ];
    expect(await Promise.all(pages.map(role))).toEqual(['leader', 'follower', 'follower']);
    expect(s.service.getConnectionCount()).toBe(1);
    const total = 150;
    const publishing = (async () => {
      for (let i = 1; i <= total; i++) {
        await s.service.broadcast('feed', 'n', i);
        await sleep(4);
      }
    })();
    await expect.poll(async () => (await got(pages[2]!)).length, { timeout: 5_000 }).toBeGreaterThan(30);
    await pages[0]!.close();
    await publishing;
    for (const page of pages.slice(1)) {
      await expect.poll(async () => (await got(page)).length, { timeout: 15_000 }).toBe(total);
      expect(await got(page)).toEqual(range(1, total));
    }
    expect((await Promise.all(pages.slice(1).map(role))).sort()).toEqual(['follower', 'leader']);
    await waitFor(() => s.service.getConnectionCount() === 1, 5_000, 'one connection');
    await context.close();
  });

  it('falls back to one connection per page where BroadcastChannel is missing', { timeout: 30_000 }, async () => {
    site = await startSite();
    const context = await browser.newContext();
    await context.addInitScript(() => {
      delete (window as { BroadcastChannel?: unknown }).BroadcastChannel;
    });
    const a = await openTab(context, site, errors);
    const b = await openTab(context, site, errors);
    expect([await role(a), await role(b)]).toEqual(['unsupported', 'unsupported']);
    expect(site.service.getConnectionCount()).toBe(2);
    await site.service.broadcast('feed', 'n', 1);
    await expect.poll(() => got(a)).toEqual([1]);
    await expect.poll(() => got(b)).toEqual([1]);
    await context.close();
  });
});
