/**
 * The demo as a Pusher server: Laravel Echo (pusher-js) authorizes through the demo's own /broadcasting/auth, the
 * `pusher` server SDK publishes through the service's REST API, and native clients share the channels.
 */
import { signConnectionToken } from '@unisocket/server';
import Echo from 'laravel-echo';
import Pusher from 'pusher';
import PusherJs from 'pusher-js';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type Demo, startDemo } from '../src/demo';

const JWT_SECRET = 'a-demo-jwt-secret-of-at-least-32-bytes!!';
const APP = { PUSHER_APP_ID: 'demo-id', PUSHER_APP_KEY: 'demo-key-1', PUSHER_APP_SECRET: 'demo-secret-1' };
const demos: Demo[] = [];
const closers: (() => void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) close();
  await Promise.all(demos.splice(0).map((d) => d.close()));
});

async function demo(): Promise<Demo> {
  const d = await startDemo({ env: { BROKER: 'memory', JWT_SECRET, ...APP }, port: 0, log: () => {}, ticker: false });
  demos.push(d);
  return d;
}

async function echoFor(d: Demo, name: string): Promise<Echo<'pusher'>> {
  const token = await signConnectionToken({ secret: JWT_SECRET, userId: name.toLowerCase(), info: { name } });
  const echo = new Echo({
    broadcaster: 'pusher',
    Pusher: PusherJs,
    key: APP.PUSHER_APP_KEY,
    cluster: 'mt1',
    wsHost: '127.0.0.1',
    wsPort: d.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    authEndpoint: `${d.url}/broadcasting/auth`,
    auth: { headers: { Authorization: `Bearer ${token}` } },
  });
  closers.push(() => echo.disconnect());
  return echo;
}

const until = async (test: () => boolean, what: string, ms = 5_000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('the demo speaks Pusher', () => {
  it('Echo joins presence-lobby through /broadcasting/auth; a whisper reaches the other member, not the sender', async () => {
    const d = await demo();
    const ada = await echoFor(d, 'Ada');
    const bob = await echoFor(d, 'Bob');
    const adaSees: string[] = [];
    const bobWhispers: unknown[] = [];
    const adaWhispers: unknown[] = [];
    ada
      .join('lobby')
      .here((members: { name: string }[]) => adaSees.push(`here:${members.map((m) => m.name).join(',')}`))
      .joining((m: { name: string }) => adaSees.push(`joining:${m.name}`))
      .listenForWhisper('typing', (e: unknown) => adaWhispers.push(e));
    await until(() => adaSees.length > 0, "Ada's here()");
    bob.join('lobby').listenForWhisper('typing', (e: unknown) => bobWhispers.push(e));
    await until(() => adaSees.includes('joining:Bob'), 'Bob joining');
    ada.join('lobby').whisper('typing', { who: 'ada' });
    await until(() => bobWhispers.length > 0, 'the whisper');
    expect(bobWhispers).toEqual([{ who: 'ada' }]);
    expect(adaWhispers).toEqual([]);
    expect(adaSees[0]).toBe('here:Ada');
  });

  it("the pusher SDK's trigger goes through the service's REST API to Echo and to native subscribers", async () => {
    const d = await demo();
    const sdk = new Pusher({
      appId: APP.PUSHER_APP_ID,
      key: APP.PUSHER_APP_KEY,
      secret: APP.PUSHER_APP_SECRET,
      host: '127.0.0.1',
      port: String(d.port),
      useTLS: false,
    });
    const echo = await echoFor(d, 'Cy');
    const got: unknown[] = [];
    echo.channel('news').listen('.update', (e: unknown) => got.push(e));
    const native = new WebSocket(`ws://127.0.0.1:${d.port}/ws`);
    closers.push(() => native.close());
    const nativeGot: unknown[] = [];
    native.on('message', (raw: Buffer) => {
      for (const line of raw.toString().split('\n')) {
        const f = JSON.parse(line) as { type: string; data?: unknown };
        if (f.type === 'welcome') native.send(JSON.stringify({ type: 'subscribe', channel: 'news', ref: 1 }));
        if (f.type === 'message') nativeGot.push(f.data);
      }
    });
    await until(() => echo.connector.pusher.connection.state === 'connected', 'Echo connected');
    await new Promise((r) => setTimeout(r, 300)); // both subscriptions acknowledged
    const res = await sdk.trigger('news', 'update', { title: 'hello' });
    expect(res.status).toBe(200);
    await until(() => got.length > 0 && nativeGot.length > 0, 'the event on both transports');
    expect(got).toEqual([{ title: 'hello' }]);
    expect(nativeGot).toEqual([{ title: 'hello' }]);

    const bad = new Pusher({
      appId: APP.PUSHER_APP_ID,
      key: APP.PUSHER_APP_KEY,
      secret: 'wrong',
      host: '127.0.0.1',
      port: String(d.port),
      useTLS: false,
    });
    await expect(bad.trigger('news', 'update', {})).rejects.toMatchObject({ status: 401 });
  });

  it("Echo with broadcaster 'reverb' and bearerToken (a Reverb client's setup) joins presence-lobby and receives server broadcasts", async () => {
    const d = await demo();
    const token = await signConnectionToken({ secret: JWT_SECRET, userId: 'eve', info: { name: 'Eve' } });
    const echo = new Echo({
      broadcaster: 'reverb',
      Pusher: PusherJs,
      key: APP.PUSHER_APP_KEY,
      wsHost: '127.0.0.1',
      wsPort: d.port,
      forceTLS: false,
      enabledTransports: ['ws'],
      authEndpoint: `${d.url}/broadcasting/auth`,
      bearerToken: token,
    });
    closers.push(() => echo.disconnect());
    const here: unknown[] = [];
    const got: unknown[] = [];
    echo.join('lobby').here((members: unknown[]) => here.push(...members));
    echo.channel('news').listen('.update', (e: unknown) => got.push(e));
    await until(() => here.length > 0, "Eve's here()");
    expect(here).toEqual([{ name: 'Eve' }]);
    await d.service.broadcast('news', 'update', { title: 'from the server' });
    await until(() => got.length > 0, 'the broadcast');
    expect(got).toEqual([{ title: 'from the server' }]);
  });

  it("POST /demo/say publishes a chat line as the Pusher connection: Echo and native subscribers get it, with the Hub's offset", async () => {
    const d = await demo();
    const echo = await echoFor(d, 'Dee');
    const got: unknown[] = [];
    echo.channel('chat.lobby').listen('.say', (e: unknown) => got.push(e));
    const native = new WebSocket(`ws://127.0.0.1:${d.port}/ws`);
    closers.push(() => native.close());
    const nativeGot: { data?: unknown; offset?: number }[] = [];
    native.on('message', (raw: Buffer) => {
      for (const line of raw.toString().split('\n')) {
        const f = JSON.parse(line) as { type: string; data?: unknown; offset?: number };
        if (f.type === 'welcome') native.send(JSON.stringify({ type: 'subscribe', channel: 'chat.lobby', ref: 1 }));
        if (f.type === 'message') nativeGot.push(f);
      }
    });
    await until(() => echo.connector.pusher.connection.state === 'connected', 'Echo connected');
    await new Promise((r) => setTimeout(r, 300)); // both subscriptions acknowledged
    const say = (body: unknown) =>
      fetch(`${d.url}/demo/say`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
    const ok = await say({ socket_id: echo.socketId(), name: 'Dee', text: ' hi all ' });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ channel: 'chat.lobby', offset: 1 });
    await until(() => got.length > 0 && nativeGot.length > 0, 'the line on both transports');
    expect(got).toEqual([{ name: 'Dee', text: 'hi all' }]);
    expect(nativeGot).toMatchObject([{ data: { name: 'Dee', text: 'hi all' }, offset: 1 }]);
    // the publish is the Pusher connection's: it counts as a command of that connection
    expect(d.service.pusherTransport?.connectionOf(echo.socketId()!)?.commandsIn).toBeGreaterThan(1);

    expect((await say({ socket_id: '1.2', text: 'x' })).status).toBe(404);
    expect((await say({ socket_id: echo.socketId(), text: '' })).status).toBe(400);
    expect((await say({ socket_id: echo.socketId(), text: 'x'.repeat(501) })).status).toBe(400);
    expect((await say({ text: 'no socket' })).status).toBe(400);
    expect((await say('not json')).status).toBe(400);
    expect((await say({ socket_id: echo.socketId(), text: 'x'.repeat(5000) })).status).toBe(413);
  });
});
