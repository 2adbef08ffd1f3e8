import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type TestServer, startServer, waitFor } from './helpers';

// these tests read the built package (`pnpm build` runs before `pnpm test`)
const root = fileURLToPath(new URL('..', import.meta.url));
const dist = (file: string) => fileURLToPath(new URL(`../dist/${file}`, import.meta.url));

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

interface BundleApi {
  createClient(options: { url: string }): {
    connect(): Promise<void>;
    disconnect(): void;
    subscribe(channel: string, options?: object): { whenSubscribed(): Promise<unknown> };
    getSnapshot(): { status: string; connectionId: string | null };
  };
}

describe('the browser bundle', () => {
  it('is self-contained: no Node modules, no ws, no bare imports', () => {
    for (const file of ['unisocket.browser.js', 'unisocket.browser.global.js']) {
      expect(existsSync(dist(file)), `${file} is built`).toBe(true);
      const code = readFileSync(dist(file), 'utf8');
      // no static import or re-export of anything (the bundle has one export list and no `from`)
      expect(code).not.toMatch(/^\s*import\b/m);
      expect(code).not.toMatch(/^\s*export\b[^\n]*\bfrom\s*["']/m);
      expect(code).not.toMatch(/\brequire\(/);
      expect(code).not.toMatch(/["']node:/);
      // not even the lazy `ws` fallback of the Node build
      expect(code).not.toMatch(/\bimport\(/);
    }
  });

  it('runs as an ES module in a browser-like global scope (global WebSocket, relative URL)', async () => {
    const s = await startServer();
    servers.push(s);
    const g = globalThis as { WebSocket?: unknown; location?: unknown };
    const saved = { WebSocket: g.WebSocket, location: g.location };
    g.WebSocket = WebSocket;
    g.location = { href: `http://127.0.0.1:${s.port}/index.html` };
    try {
      const api = (await import(/* @vite-ignore */ dist('unisocket.browser.js'))) as BundleApi;
      const client = api.createClient({ url: '/ws' });
      await client.connect();
      expect(client.getSnapshot().status).toBe('connected');
      const got: unknown[] = [];
      await client.subscribe('news', { onMessage: (m: { data: unknown }) => got.push(m.data) }).whenSubscribed();
      await s.service.broadcast('news', 'n', 'hello');
      await waitFor(() => got.length === 1);
      expect(got).toEqual(['hello']);
      client.disconnect();
    } finally {
      g.WebSocket = saved.WebSocket;
      g.location = saved.location;
    }
  });

  it('runs as a classic script defining window.Unisocket', async () => {
    const s = await startServer();
    servers.push(s);
    const context = vm.createContext({
      WebSocket,
      location: { href: `http://127.0.0.1:${s.port}/` },
      URL,
      crypto: globalThis.crypto,
      setTimeout,
      clearTimeout,
      queueMicrotask,
      console,
    });
    vm.runInContext(readFileSync(dist('unisocket.browser.global.js'), 'utf8'), context);
    const api = vm.runInContext('Unisocket', context) as BundleApi;
    const client = api.createClient({ url: '/ws' });
    await client.connect();
    expect(client.getSnapshot().connectionId).toMatch(/.+/);
    client.disconnect();
  });
});

describe('the npm package', () => {
  it('loads through its exports map from ESM and CommonJS, and finds ws lazily in Node 20', () => {
    const esm = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const m = await import('@unisocket/client'); console.log(typeof m.createClient, typeof m.UnisocketError)",
      ],
      { cwd: root, encoding: 'utf8' },
    );
    expect(esm.trim()).toBe('function function');
    const cjs = execFileSync(
      process.execPath,
      ['-e', "const m = require('@unisocket/client'); console.log(typeof m.createClient, typeof m.Subscription)"],
      { cwd: root, encoding: 'utf8' },
    );
    expect(cjs.trim()).toBe('function function');
  });

  it('connects from plain Node without options.WebSocket (ws is loaded on first connect)', async () => {
    const s = await startServer();
    servers.push(s);
    const script = `
      const { createClient } = await import('@unisocket/client');
      const client = createClient({ url: ${JSON.stringify(s.url)} });
      await client.connect();
      console.log(client.getSnapshot().status);
      client.disconnect();
    `;
    // async: the server runs in this process and must keep serving while the child connects
    const out = await execFileAsync(process.execPath, ['--input-type=module', '-e', script], root);
    expect(out.trim()).toBe('connected');
  });
});

function execFileAsync(file: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(file, args, { cwd, encoding: 'utf8', timeout: 10_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
}
