import { createClient } from '@unisocket/client';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { get } from 'svelte/store';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createBroadcastStore, createChannelStore, createConnectionStore, createPresenceStore } from '../src/index';
import Chat from './components/Chat.svelte';
import Owned from './components/Owned.svelte';
import RunesPresence from './components/RunesPresence.svelte';
import Whisper from './components/Whisper.svelte';
import { type HubServer, type TestServer, FAST_RECONNECT, liveFixtures, until } from '@unisocket/testkit';

// happy-dom renders Svelte 5 components; the client uses real sockets (`ws`) to a live server in this process
const live = liveFixtures(createClient);
const server = (): Promise<TestServer> => live.server();
const client = live.client;

afterEach(async () => {
  cleanup();
  await live.cleanup();
});

const text = (id: string): string => screen.getByTestId(id).textContent ?? '';

describe('the store contract', () => {
  it('a channel store subscribes with its first subscriber and leaves with its last', async () => {
    const s = await server();
    const c = client(s.url);
    await c.connect();
    const store = createChannelStore(c, 'contract');
    // get() subscribes for a moment: the client sends nothing for a handle taken and left within one turn
    expect(get(store)).toMatchObject({ channel: 'contract', isSubscribed: false });
    await new Promise((r) => setTimeout(r, 50));
    expect(s.subscribes.filter((x) => x.channel === 'contract')).toHaveLength(0);
    expect(get(store).status).toBe('subscribing');
    await new Promise((r) => setTimeout(r, 50));
    expect(c.channels).toEqual([]);
    const values: string[] = [];
    const a = store.subscribe((v) => values.push(v.status));
    const b = store.subscribe(() => undefined);
    await until(() => s.service.getChannelSubscribers('contract').length === 1);
    await until(() => values.at(-1) === 'subscribed');
    a();
    await new Promise((r) => setTimeout(r, 50));
    expect(s.service.getChannelSubscribers('contract')).toHaveLength(1);
    b();
    await until(() => s.service.getChannelSubscribers('contract').length === 0, 3_000, 'the last unsubscribe to leave');
    expect(values[0]).toBe('subscribing');
  });

  it('createConnectionStore and createBroadcastStore follow the connection', async () => {
    const s = await server();
    const c = client(s.url);
    const connection = createConnectionStore(c);
    const broadcast = createBroadcastStore(c);
    const statuses: string[] = [];
    const off = connection.subscribe((v) => statuses.push(v.status));
    await c.connect();
    await until(() => statuses.at(-1) === 'connected');
    expect(get(broadcast)).toMatchObject({ status: 'connected', isConnected: true });
    off();
  });
});

describe('Svelte 5 components', () => {
  it('$store syntax: connects, subscribes, receives typed messages and exposes the channel snapshot', async () => {
    const s = await server();
    const c = client(s.url);
    await c.connect();
    render(Chat, { props: { client: c } });
    await waitFor(() => expect(text('status')).toBe('connected'));
    await waitFor(() => expect(text('channel-status')).toBe('subscribed'));
    expect(text('recovered')).toBe('null');
    await s.service.broadcast('chat', 'say', { text: 'hello' });
    await s.service.broadcast('chat', 'say', { text: 'world' });
    await waitFor(() => expect(text('last')).toBe('world'));
    expect(text('lines')).toBe('1:hello 2:world');
  });

  it('unmount cleans up: no subscription left on the server', async () => {
    const s = await server();
    const c = client(s.url);
    await c.connect();
    const view = render(Chat, { props: { client: c, channel: 'news' } });
    await waitFor(() => expect(text('channel-status')).toBe('subscribed'));
    expect(s.service.getChannelSubscribers('news')).toHaveLength(1);
    view.unmount();
    await until(() => s.service.getChannelSubscribers('news').length === 0, 3_000, 'the server subscription to end');
    expect(s.service.hub.channelCount).toBe(0);
  });

  it('shows the recovery state: after a dropped connection every missed message arrives, recovered = true', async () => {
    const s = await server();
    const c = client(s.url, { reconnect: { initialDelayMs: 300, maxDelayMs: 300 } });
    await c.connect();
    render(Chat, { props: { client: c } });
    await waitFor(() => expect(text('channel-status')).toBe('subscribed'));
    await s.service.broadcast('chat', 'say', { text: 'before' });
    await waitFor(() => expect(text('last')).toBe('before'));
    for (const conn of [...s.service.hub.connections()]) s.service.hub.disconnect(conn, 4008, 'test');
    await s.service.broadcast('chat', 'say', { text: 'missed-1' });
    await s.service.broadcast('chat', 'say', { text: 'missed-2' });
    await waitFor(() => expect(text('recovered')).toBe('true'), { timeout: 5_000 });
    await waitFor(() => expect(text('lines')).toBe('1:before 2:missed-1 3:missed-2'));
  });

  it('createBroadcastStore(options) owns its client: connected while its stores are used, publish, disconnected after', async () => {
    const s = await server();
    const acks: number[] = [];
    const view = render(Owned, {
      props: {
        options: { url: s.url, WebSocket, reconnect: FAST_RECONNECT },
        onPublished: (o: number) => acks.push(o),
      },
    });
    await waitFor(() => expect(text('owned')).toBe('true/subscribed'));
    expect(s.service.getConnectionCount()).toBe(1);
    await fireEvent.click(screen.getByText('send'));
    await until(() => acks.length === 1);
    expect(acks).toEqual([1]);
    view.unmount();
    await until(() => s.service.getConnectionCount() === 0, 3_000, 'the owned client to disconnect');
  });
});

describe('presence and private channels', () => {
  const authServer = (): Promise<HubServer> => live.authServer();

  it('runes (fromStore): presence members with join and leave', async () => {
    const s = await authServer();
    const ann = client(s.url, { token: 'ok:ann' });
    const bob = client(s.url, { token: 'ok:bob' });
    await Promise.all([ann.connect(), bob.connect()]);
    const joined: string[] = [];
    const left: string[] = [];
    render(RunesPresence, {
      props: {
        client: ann,
        id: 'ann',
        onJoin: (id: string) => joined.push(id),
        onLeave: (id: string) => left.push(id),
      },
    });
    await waitFor(() => expect(text('room-ann')).toBe('true:ann:1'));
    const bobView = render(RunesPresence, { props: { client: bob, id: 'bob' } });
    await waitFor(() => expect(text('room-bob')).toBe('true:ann,bob:2'));
    await waitFor(() => expect(text('room-ann')).toBe('true:ann,bob:2'));
    expect(joined).toEqual(['bob']);
    bobView.unmount();
    await waitFor(() => expect(text('room-ann')).toBe('true:ann:1'));
    expect(left).toEqual(['bob']);
    await until(() => s.hub.channelSubscribers('presence-room').length === 1);
  });

  it('createPrivateChannelStore: whisper reaches the other member as client-<event>', async () => {
    const s = await authServer();
    const ann = client(s.url, { token: 'ok:ann' });
    const bob = client(s.url, { token: 'ok:bob' });
    await Promise.all([ann.connect(), bob.connect()]);
    const typing: unknown[] = [];
    let whisper: ((event: string, data?: unknown) => Promise<unknown>) | undefined;
    render(Whisper, { props: { client: ann, id: 'ann', onTyping: (d: unknown) => typing.push(d) } });
    render(Whisper, { props: { client: bob, id: 'bob', expose: (w: typeof whisper) => (whisper = w) } });
    await waitFor(() => expect(text('ann')).toBe('subscribed'));
    await waitFor(() => expect(text('bob')).toBe('subscribed'));
    await whisper!('typing', { user: 'bob' });
    await waitFor(() => expect(typing).toEqual([{ user: 'bob' }]));
  });

  it('the client-first form: createPresenceStore(broadcast.client, channel, handlers) with $presence.memberCount', async () => {
    const s = await authServer();
    const broadcast = createBroadcastStore({ url: s.url, WebSocket, token: 'ok:ann', reconnect: FAST_RECONNECT });
    live.adopt(broadcast.client);
    const presence = createPresenceStore(broadcast.client, 'presence-seed', { NewMessage: () => undefined });
    const counts: number[] = [];
    const off = presence.subscribe((v) => counts.push(v.memberCount));
    await until(() => counts.at(-1) === 1, 5_000, 'ann to be a member');
    expect(get(broadcast).isConnected).toBe(true);
    off();
  });
});
