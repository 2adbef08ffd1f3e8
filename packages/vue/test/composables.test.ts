import { type UnisocketClient, createClient } from '@unisocket/client';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/vue';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type PropType, defineComponent, effectScope, h, ref } from 'vue';
import WebSocket from 'ws';
import {
  createUnisocket,
  provideUnisocket,
  useBroadcast,
  useChannel,
  useConnectionState,
  usePresence,
  usePrivateChannel,
  usePublish,
} from '../src/index';
import { type HubServer, type TestServer, FAST_RECONNECT, liveFixtures, until } from '@unisocket/testkit';

// happy-dom renders; the client uses real sockets (`ws`) to a live server in this process
const live = liveFixtures(createClient);
const server = (): Promise<TestServer> => live.server();
const client = live.client;

afterEach(async () => {
  cleanup();
  await live.cleanup();
});

const text = (id: string): string => screen.getByTestId(id).textContent ?? '';

type Chat = { say: { text: string } };

const ChatView = defineComponent({
  props: { channel: { type: String, default: 'chat' } },
  setup(props) {
    const lines = ref<string[]>([]);
    const connection = useConnectionState();
    const chat = useChannel<Chat>(() => props.channel, {
      say: (data, message) => lines.value.push(`${message.offset}:${data.text}`),
    });
    return () =>
      h('div', [
        h('p', { 'data-testid': 'status' }, connection.value.status),
        h('p', { 'data-testid': 'channel-status' }, chat.status.value),
        h('p', { 'data-testid': 'recovered' }, String(chat.recovered.value)),
        h(
          'p',
          { 'data-testid': 'last' },
          chat.lastMessage.value === null ? '' : (chat.lastMessage.value.data as { text: string }).text,
        ),
        h('p', { 'data-testid': 'lines' }, lines.value.join(' ')),
      ]);
  },
});

describe('createUnisocket, useConnectionState, useChannel', () => {
  it('connects, subscribes, receives typed messages and exposes the channel state as refs', async () => {
    const s = await server();
    const c = client(s.url);
    render(ChatView, { global: { plugins: [createUnisocket(c)] } });
    await c.connect();
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
    const view = render(ChatView, { props: { channel: 'news' }, global: { plugins: [createUnisocket(c)] } });
    await waitFor(() => expect(text('channel-status')).toBe('subscribed'));
    expect(s.service.getChannelSubscribers('news')).toHaveLength(1);
    view.unmount();
    await until(() => s.service.getChannelSubscribers('news').length === 0, 3_000, 'the server subscription to end');
    expect(s.service.hub.channelCount).toBe(0);
  });

  it('a reactive channel resubscribes when it changes', async () => {
    const s = await server();
    const c = client(s.url);
    await c.connect();
    const view = render(ChatView, { props: { channel: 'a' }, global: { plugins: [createUnisocket(c)] } });
    await until(() => s.service.getChannelSubscribers('a').length === 1);
    await view.rerender({ channel: 'b' });
    await until(
      () => s.service.getChannelSubscribers('b').length === 1 && s.service.getChannelSubscribers('a').length === 0,
    );
    await waitFor(() => expect(text('channel-status')).toBe('subscribed'));
  });

  it('the plugin with options owns the client: connects on install, disconnects when the app unmounts', async () => {
    const s = await server();
    const view = render(ChatView, {
      global: { plugins: [createUnisocket({ url: s.url, WebSocket, reconnect: FAST_RECONNECT })] },
    });
    await waitFor(() => expect(text('channel-status')).toBe('subscribed'));
    expect(s.service.getConnectionCount()).toBe(1);
    view.unmount();
    await until(() => s.service.getConnectionCount() === 0, 3_000, 'the connection to close');
  });

  it('shows the recovery state: after a dropped connection every missed message arrives, recovered = true', async () => {
    const s = await server();
    const c = client(s.url, { reconnect: { initialDelayMs: 300, maxDelayMs: 300 } });
    await c.connect();
    render(ChatView, { global: { plugins: [createUnisocket(c)] } });
    await waitFor(() => expect(text('channel-status')).toBe('subscribed'));
    await s.service.broadcast('chat', 'say', { text: 'before' });
    await waitFor(() => expect(text('last')).toBe('before'));
    for (const conn of [...s.service.hub.connections()]) s.service.hub.disconnect(conn, 4008, 'test');
    await s.service.broadcast('chat', 'say', { text: 'missed-1' });
    await s.service.broadcast('chat', 'say', { text: 'missed-2' });
    await waitFor(() => expect(text('recovered')).toBe('true'), { timeout: 5_000 });
    await waitFor(() => expect(text('lines')).toBe('1:before 2:missed-1 3:missed-2'));
  });
});

describe('useBroadcast, usePublish, provideUnisocket', () => {
  it('useBroadcast(options) owns a client for its component; usePublish publishes', async () => {
    const s = await server();
    const acks: number[] = [];
    const Parent = defineComponent({
      setup() {
        const { isConnected, client: c } = useBroadcast({ url: s.url, WebSocket, reconnect: FAST_RECONNECT });
        provideUnisocket(c);
        return () =>
          h('div', [h('p', { 'data-testid': 'connected' }, String(isConnected.value)), h(ChatView), h(Sender)]);
      },
    });
    const Sender = defineComponent({
      setup() {
        const publish = usePublish();
        return () =>
          h(
            'button',
            { onClick: () => publish('chat', 'say', { text: 'clicked' }).then((r) => acks.push(r.offset)) },
            'send',
          );
      },
    });
    const view = render(Parent);
    await waitFor(() => expect(text('connected')).toBe('true'));
    await waitFor(() => expect(text('channel-status')).toBe('subscribed'));
    await fireEvent.click(screen.getByText('send'));
    await waitFor(() => expect(text('last')).toBe('clicked'));
    expect(acks).toEqual([1]);
    view.unmount();
    await until(() => s.service.getConnectionCount() === 0, 3_000, 'the owned client to disconnect');
  });

  it('composables work in an effectScope outside components (stop ends the subscription)', async () => {
    const s = await server();
    const c = client(s.url);
    await c.connect();
    const scope = effectScope();
    const chat = scope.run(() => useChannel(c, 'scoped'))!;
    await until(() => chat.isSubscribed.value);
    expect(s.service.getChannelSubscribers('scoped')).toHaveLength(1);
    scope.stop();
    await until(() => s.service.getChannelSubscribers('scoped').length === 0, 3_000, 'the scope to unsubscribe');
  });

  it('composables without a provided client say what to do', () => {
    const Orphan = defineComponent({
      setup() {
        useChannel('x');
        return () => null;
      },
    });
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    expect(() => render(Orphan)).toThrow(/createUnisocket/);
    warn.mockRestore();
  });
});

describe('presence and private channels', () => {
  const authServer = (): Promise<HubServer> => live.authServer();

  const Room = defineComponent({
    props: {
      id: { type: String, required: true },
      client: { type: Object as PropType<UnisocketClient>, required: true },
      onJoin: { type: Function as PropType<(id: string) => void>, default: undefined },
      onLeave: { type: Function as PropType<(id: string) => void>, default: undefined },
    },
    setup(props) {
      // the client-first form
      const { members, isSubscribed } = usePresence(
        props.client,
        'presence-room',
        {},
        {
          onJoin: (m) => props.onJoin?.(m.userId),
          onLeave: (m) => props.onLeave?.(m.userId),
        },
      );
      return () =>
        h(
          'p',
          { 'data-testid': `room-${props.id}` },
          `${String(isSubscribed.value)}:${members.value
            .map((m) => m.userId)
            .sort()
            .join(',')}`,
        );
    },
  });

  it('usePresence: members with join and leave', async () => {
    const s = await authServer();
    const ann = client(s.url, { token: 'ok:ann' });
    const bob = client(s.url, { token: 'ok:bob' });
    await Promise.all([ann.connect(), bob.connect()]);
    const joined: string[] = [];
    const left: string[] = [];
    render(Room, {
      props: {
        id: 'ann',
        client: ann,
        onJoin: (id: string) => joined.push(id),
        onLeave: (id: string) => left.push(id),
      },
    });
    await waitFor(() => expect(text('room-ann')).toBe('true:ann'));
    const bobView = render(Room, { props: { id: 'bob', client: bob } });
    await waitFor(() => expect(text('room-bob')).toBe('true:ann,bob'));
    await waitFor(() => expect(text('room-ann')).toBe('true:ann,bob'));
    expect(joined).toEqual(['bob']);
    bobView.unmount();
    await waitFor(() => expect(text('room-ann')).toBe('true:ann'));
    expect(left).toEqual(['bob']);
  });

  it('usePrivateChannel: whisper reaches the other member as client-<event>', async () => {
    const s = await authServer();
    const ann = client(s.url, { token: 'ok:ann' });
    const bob = client(s.url, { token: 'ok:bob' });
    await Promise.all([ann.connect(), bob.connect()]);
    const typing: unknown[] = [];
    let whisper: ((event: string, data?: unknown) => Promise<unknown>) | undefined;
    const Listener = defineComponent({
      setup() {
        const chat = usePrivateChannel<{ 'client-typing': { user: string } }>(ann, 'private-chat', {
          'client-typing': (d) => typing.push(d),
        });
        return () => h('p', { 'data-testid': 'ann' }, chat.status.value);
      },
    });
    const Whisperer = defineComponent({
      setup() {
        const chat = usePrivateChannel(bob, 'private-chat');
        whisper = chat.whisper;
        return () => h('p', { 'data-testid': 'bob' }, chat.status.value);
      },
    });
    render(Listener);
    render(Whisperer);
    await waitFor(() => expect(text('ann')).toBe('subscribed'));
    await waitFor(() => expect(text('bob')).toBe('subscribed'));
    await whisper!('typing', { user: 'bob' });
    await waitFor(() => expect(typing).toEqual([{ user: 'bob' }]));
  });
});
