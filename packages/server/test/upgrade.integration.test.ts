/**
 * The HTTP `upgrade` surface under attack: an upgrade nobody takes, reset by the client, used to crash the process
 * (Node removes its own socket error handler before it emits `upgrade`), and an upgrade nobody answers used to hold its
 * descriptor forever (the header and request timeouts stop applying once a socket is handed over). The server runs in
 * a child process, so a crash is an exit code here.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { UpgradeServer, rawSocket, readUntilClosed, sleep, upgradeRequest } from './upgrade-surface';

const servers: UpgradeServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function start(options: object): Promise<UpgradeServer> {
  const server = await UpgradeServer.start(options);
  servers.push(server);
  return server;
}

/** Sends an upgrade request, waits `afterMs`, then resets the connection (RST). */
async function resetAfterUpgrade(port: number, path: string, upgrade: string, afterMs: number): Promise<void> {
  const socket = await rawSocket(port);
  socket.on('error', () => {});
  socket.write(upgradeRequest(path, upgrade));
  await sleep(afterMs);
  socket.resetAndDestroy();
}

async function echo(port: number): Promise<string> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/custom`);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const reply = new Promise<string>((resolve) => ws.once('message', (d: Buffer) => resolve(d.toString())));
  ws.send('hi');
  const text = await reply;
  ws.close();
  return text;
}

describe('upgrades on paths unisocket does not serve', () => {
  for (const userUpgrade of [false, true]) {
    it(`a reset after the upgrade request never crashes the server (${userUpgrade ? 'with' : 'without'} an upgrade handler of the application's own)`, async () => {
      const server = await start({ transports: ['native', 'socketio'], userUpgrade, upgradeTimeoutMs: 1_000 });
      for (const [path, upgrade] of [
        ['/', 'h2c'],
        ['/nowhere', 'websocket'],
        ['/ws2', 'websocket'],
        ['/socket.io', 'h2c'],
      ] as const) {
        for (const afterMs of [0, 5, 50, 200]) await resetAfterUpgrade(server.port, path, upgrade, afterMs);
      }
      await sleep(300);
      expect(server.alive, `exit ${JSON.stringify(server.exit)}: ${server.stderr}`).toBe(true);
      // the service's own paths and the application's own handler still work
      const native = new WebSocket(`ws://127.0.0.1:${server.port}/ws`);
      const welcome = await new Promise<string>((resolve, reject) => {
        native.once('message', (d: Buffer) => resolve(d.toString()));
        native.once('error', reject);
      });
      expect(JSON.parse(welcome)).toMatchObject({ type: 'welcome' });
      native.close();
      if (userUpgrade) expect(await echo(server.port)).toBe('echo:hi');
    }, 30_000);
  }

  it('answers 404 at once when the service is the only upgrade listener', async () => {
    const server = await start({});
    const socket = await rawSocket(server.port);
    socket.write(upgradeRequest('/elsewhere'));
    const answer = await readUntilClosed(socket, 5_000);
    expect(answer.timedOut).toBe(false);
    expect(answer.data).toMatch(/^HTTP\/1\.1 404 /);
    expect(answer.data).toMatch(/nothing serves WebSocket upgrades on \\"\/elsewhere\\"/);
    expect(answer.ms).toBeLessThan(2_000);
  });

  it('with an upgrade handler of the application’s own, answers 404 and closes after upgradeTimeoutMs what nobody answered', async () => {
    const server = await start({ userUpgrade: true, upgradeTimeoutMs: 500 });
    const socket = await rawSocket(server.port);
    socket.write(upgradeRequest('/elsewhere'));
    const answer = await readUntilClosed(socket, 10_000);
    expect(answer.timedOut).toBe(false);
    expect(answer.data).toMatch(/^HTTP\/1\.1 404 /);
    expect(answer.ms).toBeGreaterThanOrEqual(400);
    // what the application's handler takes stays open past the deadline
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/custom`);
    await new Promise((resolve) => ws.once('open', resolve));
    await sleep(1_000);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.close();
  });

  for (const userUpgrade of [false, true]) {
    it(`hundreds of idle unanswered upgrades are closed in bounded time: descriptors back to baseline (${userUpgrade ? 'with' : 'without'} an application handler)`, async () => {
      const server = await start({ userUpgrade, upgradeTimeoutMs: 1_000 });
      const baseline = await server.fds();
      const sockets = await Promise.all(Array.from({ length: 300 }, () => rawSocket(server.port)));
      const closed = sockets.map((s) => readUntilClosed(s, 15_000));
      // a request that promises to upgrade but never completes its headers is Node's to time out (headersTimeout);
      // these complete them, so they are the upgrade handlers' problem
      for (const [i, s] of sockets.entries()) s.write(upgradeRequest(`/idle/${i}`));
      const answers = await Promise.all(closed);
      expect(answers.filter((a) => a.timedOut)).toHaveLength(0);
      for (const a of answers) expect(a.data).toMatch(/^HTTP\/1\.1 404 /);
      await sleep(200);
      expect(await server.fds()).toBeLessThanOrEqual(baseline + 5);
      expect(server.alive).toBe(true);
      expect((await server.refusedUpgrades()).unknownPath).toBe(300);
    }, 60_000);
  }
});

describe('upgrades while the service shuts down', () => {
  it('are answered 503 at once, so clients retry instead of hanging', async () => {
    const { createServer } = await import('node:http');
    const { createUnifiedWebSocketService } = await import('../src/index');
    const http = createServer();
    const service = createUnifiedWebSocketService({ shutdownTimeoutMs: 3_000 });
    await service.initialize(http);
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const port = (http.address() as { port: number }).port;
    try {
      // a client that completes the handshake and then never answers the close: shutdown waits for it
      const stuck = await rawSocket(port);
      stuck.on('error', () => {});
      stuck.write(upgradeRequest('/ws'));
      await new Promise((resolve) => stuck.once('data', resolve));
      stuck.pause();
      const stopping = service.shutdown();
      await sleep(100);
      const late = await rawSocket(port);
      late.write(upgradeRequest('/ws'));
      const answer = await readUntilClosed(late, 5_000);
      expect(answer.timedOut).toBe(false);
      expect(answer.data).toMatch(/^HTTP\/1\.1 503 /);
      expect(answer.data).toMatch(/Retry-After: 1/);
      expect(answer.ms).toBeLessThan(1_500);
      stuck.destroy();
      await stopping;
      expect(service.refusedUpgrades.overloaded).toBeGreaterThanOrEqual(1);
    } finally {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    }
  }, 20_000);
});

describe('connections admitted asynchronously (a JWT checked at the upgrade)', () => {
  it('close cleanly with 1001 when the service shuts down right after they opened: nothing is written into their stream', async () => {
    const { createServer } = await import('node:http');
    const { createUnifiedWebSocketService, signConnectionToken } = await import('../src/index');
    const secret = 'upgrade-guard-test-secret-of-32-bytes!';
    const http = createServer();
    const service = createUnifiedWebSocketService({ auth: { jwt: { secret } } });
    await service.initialize(http);
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const port = (http.address() as { port: number }).port;
    try {
      const token = await signConnectionToken({ secret, userId: 'u1' });
      const clients = Array.from({ length: 5 }, () => new WebSocket(`ws://127.0.0.1:${port}/ws?token=${token}`));
      const errors: string[] = [];
      const closes = clients.map(
        (ws) =>
          new Promise<number>((resolve) => {
            ws.on('error', (e) => errors.push(String(e)));
            ws.on('close', (code) => resolve(code));
          }),
      );
      await Promise.all(clients.map((ws) => new Promise((resolve) => ws.once('message', resolve))));
      await service.shutdown();
      expect(await Promise.all(closes)).toEqual([1001, 1001, 1001, 1001, 1001]);
      expect(errors).toEqual([]);
    } finally {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    }
  }, 20_000);
});
