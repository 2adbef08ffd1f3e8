import { channelAuth } from '@unisocket/transport-pusher';
import Pusher from 'pusher-js';
import { afterEach, describe, expect, it } from 'vitest';
import { signPusherAuth } from '../src/index';
import { SioClient, type TestServer, startServer, waitFor } from './helpers';

const APP = { id: 'app-1', key: 'app-key', secret: 'a-pusher-app-secret-of-32-characters-or-more' };
const HMAC = { key: 'sio', secret: 'a-subscription-token-secret-of-32-characters' };

const servers: TestServer[] = [];
const closers: (() => void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(): Promise<TestServer> {
  const s = await startServer({
    transports: ['native', 'socketio', 'pusher'],
    pusher: { apps: [APP] },
    permissions: { publish: ['private'] },
    auth: { subscriptionTokens: { hmac: HMAC } },
  });
  servers.push(s);
  return s;
}

/** pusher-js 8 against the service's Pusher endpoint, its channel authorizations signed in-test as an app would. */
function pusher(port: number): Pusher {
  const client = new Pusher(APP.key, {
    wsHost: '127.0.0.1',
    wsPort: port,
    forceTLS: false,
    enabledTransports: ['ws'],
    cluster: 'mt1',
    channelAuthorization: {
      endpoint: '/unused',
      transport: 'ajax',
      customHandler: ({ socketId, channelName }, callback) =>
        callback(null, { auth: channelAuth(APP.key, APP.secret, socketId, channelName) }),
    },
  });
  closers.push(() => client.disconnect());
  return client;
}

/** Every raw Pusher message pusher-js's transport receives, as sent (pusher-js itself keeps a decoded copy only). */
function rawMessages(client: Pusher): Record<string, unknown>[] {
  const messages: Record<string, unknown>[] = [];
  const manager = client.connection as unknown as {
    connection: { transport: { bind(event: string, cb: (m: { data: string }) => void): void } } | null;
    bind(event: string, cb: () => void): void;
  };
  manager.bind('connected', () =>
    manager.connection?.transport.bind('message', (m) => messages.push(JSON.parse(m.data) as Record<string, unknown>)),
  );
  return messages;
}

async function sio(s: TestServer): Promise<SioClient> {
  const c = await SioClient.open(s.baseUrl);
  closers.push(() => c.close());
  return c;
}

describe('Pusher and Socket.IO clients on one service', () => {
  it("a Pusher client's client event reaches a Socket.IO subscriber parsed; a Socket.IO publish reaches the Pusher client", async () => {
    const s = await start();
    const io = await sio(s);
    const connectionId = (await io.next('welcome')).connectionId as string;
    const token = signPusherAuth({ ...HMAC, connectionId, channel: 'private-room' }).auth;
    expect(await io.request('subscribe', { channel: 'private-room', token })).toMatchObject({ type: 'ack' });

    const p = pusher(s.port);
    const raw = rawMessages(p);
    const room = p.subscribe('private-room');
    const atPusher: { event: string; data: unknown }[] = [];
    room.bind_global((event: string, data: unknown) => {
      if (!event.startsWith('pusher:')) atPusher.push({ event, data });
    });
    await new Promise<void>((resolve, reject) => {
      room.bind('pusher:subscription_succeeded', () => resolve());
      room.bind('pusher:subscription_error', (error: unknown) => reject(new Error(JSON.stringify(error))));
    });

    // Pusher → Socket.IO: pusher-js sends the data of a client event; it reaches Socket.IO parsed
    expect(room.trigger('client-typing', { who: 'pusher', typing: true })).toBe(true);
    const typing = await io.next('message', (m) => m.event === 'client-typing');
    expect(typing).toMatchObject({
      type: 'message',
      channel: 'private-room',
      event: 'client-typing',
      data: { who: 'pusher', typing: true },
      id: expect.any(String),
      offset: 1,
      ts: expect.any(Number),
    });

    // Socket.IO → Pusher: the data travels as its JSON text, which pusher-js parses
    const ack = await io.request('publish', { channel: 'private-room', event: 'say', data: { text: 'hi', n: 2 } });
    expect(ack).toMatchObject({ type: 'ack', offset: 2 });
    await waitFor(() => atPusher.length === 1, 5000, 'the Socket.IO publish at the Pusher client');
    expect(atPusher).toEqual([{ event: 'say', data: { text: 'hi', n: 2 } }]);
    const frame = raw.find((m) => m.event === 'say');
    expect(frame).toEqual({
      event: 'say',
      channel: 'private-room',
      data: '{"text":"hi","n":2}',
      unisocket: { epoch: expect.any(String), offset: 2 },
    });
    // the Socket.IO subscriber got its own publish too; the Pusher sender never got its client event back
    await io.next('message', (m) => m.event === 'say');
    expect(raw.some((m) => m.event === 'client-typing')).toBe(false);
  });
});
