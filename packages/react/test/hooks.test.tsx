import { createClient } from '@unisocket/client';
import { act, cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { StrictMode, useState } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import {
  BroadcastProvider,
  BroadcastSocketProvider,
  UnisocketProvider,
  useBroadcast,
  useBroadcastContext,
  useBroadcastSocket,
  useChannel,
  useConnectionState,
  usePresence,
  usePrivateChannel,
  usePublish,
  useSubscription,
} from '../src/index';
import { type HubServer, type TestServer, liveFixtures, until } from '@unisocket/testkit';

// happy-dom renders; the client uses real sockets (`ws`) to a live server in this process
const live = liveFixtures(createClient);
const server = (): Promise<TestServer> => live.server();
const client = live.client;

afterEach(async () => {
  cleanup();
  await live.cleanup();
});

type Chat = { say: { text: string } };

function ConnectionView() {
  const state = useConnectionState();
  return <p data-testid="status">{state.status}</p>;
}

function ChatView({ channel = 'chat', onSay }: { channel?: string; onSay?: (text: string, offset: number) => void }) {
  const [lines, setLines] = useState<string[]>([]);
  const chat = useChannel<Chat>(channel, {
    say: (data, message) => {
      setLines((l) => [...l, `${message.offset}:${data.text}`]);
      onSay?.(data.text, message.offset);
    },
  });
  return (
    <div>
      <p data-testid="channel-status">{chat.status}</p>
      <p data-testid="recovered">{String(chat.recovered)}</p>
      <p data-testid="last">
        {chat.lastMessage === null ? '' : String((chat.lastMessage.data as { text: string }).text)}
      </p>
      <ol data-testid="lines">
        {lines.map((l) => (
          <li key={l}>{l}</li>
        ))}
      </ol>
    </div>
  );
}

const text = (id: string): string => screen.getByTestId(id).textContent ?? '';

describe('UnisocketProvider, useConnectionState, useChannel', () => {
  it('connects, subscribes, receives typed messages and exposes the channel snapshot', async () => {
    const s = await server();
    const c = client(s.url);
    render(
      <UnisocketProvider client={c}>
        <ConnectionView />
        <ChatView />
      </UnisocketProvider>,
    );
    await waitFor(() => expect(text('status')).toBe('connected'));
    await waitFor(() => expect(text('channel-status')).toBe('subscribed'));
    expect(text('recovered')).toBe('null');
    await act(async () => {
      await s.service.broadcast('chat', 'say', { text: 'hello' });
      await s.service.broadcast('chat', 'say', { text: 'world' });
    });
    await waitFor(() => expect(text('last')).toBe('world'));
    expect(screen.getByTestId('lines').textContent).toBe('1:hello2:world');
  });

  it('unmount cleans up: no subscription left on the server', async () => {
    const s = await server();
    const c = client(s.url);
    const view = render(
      <UnisocketProvider client={c}>
        <ChatView channel="news" />
      </UnisocketProvider>,
    );
    await waitFor(() => expect(text('channel-status')).toBe('subscribed'));
    expect(s.service.getChannelSubscribers('news')).toHaveLength(1);
    view.unmount();
    await until(() => s.service.getChannelSubscribers('news').length === 0, 3_000, 'the server subscription to end');
    expect(s.service.hub.channelCount).toBe(0);
    // the client itself stays connected (the app owns it)
    expect(c.status).toBe('connected');
  });

  it('a provider that creates its client disconnects it on unmount', async () => {
    const s = await server();
    const view = render(
      <UnisocketProvider options={{ url: s.url, WebSocket }}>
        <ConnectionView />
        <ChatView />
      </UnisocketProvider>,
    );
    await waitFor(() => expect(text('channel-status')).toBe('subscribed'));
    expect(s.service.getConnectionCount()).toBe(1);
    view.unmount();
    await until(() => s.service.getConnectionCount() === 0, 3_000, 'the connection to close');
    expect(s.service.hub.channelCount).toBe(0);
  });

  it('StrictMode: exactly one server subscription and one connection despite double effects', async () => {
    const s = await server();
    render(
      <StrictMode>
        <UnisocketProvider options={{ url: s.url, WebSocket }}>
          <ConnectionView />
          <ChatView channel="strict" />
        </UnisocketProvider>
      </StrictMode>,
    );
    await waitFor(() => expect(text('channel-status')).toBe('subscribed'));
    await new Promise((r) => setTimeout(r, 200));
    expect(s.connections()).toBe(1);
    expect(s.subscribes.filter((x) => x.channel === 'strict')).toHaveLength(1);
    expect(s.service.getChannelSubscribers('strict')).toHaveLength(1);
    // also with a client that was connected before the tree mounted
    const c = client(s.url);
    await c.connect();
    const subscribeCalls = vi.spyOn(c, 'subscribe');
    render(
      <StrictMode>
        <UnisocketProvider client={c}>
          <ChatView channel="strict2" />
        </UnisocketProvider>
      </StrictMode>,
    );
    await until(() => s.service.getChannelSubscribers('strict2').length === 1);
    await new Promise((r) => setTimeout(r, 200));
    expect(s.subscribes.filter((x) => x.channel === 'strict2')).toHaveLength(1);
    // the effect did run twice (mount, unmount, mount): the client absorbed it
    expect(subscribeCalls.mock.calls.filter(([channel]) => channel === 'strict2')).toHaveLength(2);
  });

  it('shows the recovery state: after a dropped connection every missed message arrives, recovered = true', async () => {
    const s = await server();
    const c = client(s.url, { reconnect: { initialDelayMs: 300, maxDelayMs: 300 } });
    render(
      <UnisocketProvider client={c}>
        <ChatView />
      </UnisocketProvider>,
    );
    await waitFor(() => expect(text('channel-status')).toBe('subscribed'));
    await act(() => s.service.broadcast('chat', 'say', { text: 'before' }).then(() => undefined));
    await waitFor(() => expect(text('last')).toBe('before'));
    // the server drops the client (slow consumer); messages published while it is away
    await act(async () => {
      for (const conn of [...s.service.hub.connections()]) s.service.hub.disconnect(conn, 4008, 'test');
      await s.service.broadcast('chat', 'say', { text: 'missed-1' });
      await s.service.broadcast('chat', 'say', { text: 'missed-2' });
    });
    await waitFor(() => expect(text('recovered')).toBe('true'), { timeout: 5_000 });
    await waitFor(() => expect(text('last')).toBe('missed-2'));
    expect(screen.getByTestId('lines').textContent).toBe('1:before2:missed-13:missed-2');
  });

  it('handlers may change between renders without resubscribing', async () => {
    const s = await server();
    const c = client(s.url);
    const first = vi.fn();
    const second = vi.fn();
    const view = render(
      <UnisocketProvider client={c}>
        <ChatView onSay={first} />
      </UnisocketProvider>,
    );
    await waitFor(() => expect(text('channel-status')).toBe('subscribed'));
    view.rerender(
      <UnisocketProvider client={c}>
        <ChatView onSay={second} />
      </UnisocketProvider>,
    );
    await act(() => s.service.broadcast('chat', 'say', { text: 'x' }).then(() => undefined));
    await waitFor(() => expect(second).toHaveBeenCalledWith('x', 1));
    expect(first).not.toHaveBeenCalled();
    expect(s.subscribes.filter((x) => x.channel === 'chat')).toHaveLength(1);
  });
});

describe('usePublish', () => {
  it('publishes from a component; the acked offset comes back', async () => {
    const s = await server();
    const c = client(s.url);
    const acks: number[] = [];
    function Sender() {
      const publish = usePublish();
      return (
        <button
          type="button"
          onClick={() => publish('chat', 'say', { text: 'clicked' }).then((r) => acks.push(r.offset))}
        >
          send
        </button>
      );
    }
    render(
      <UnisocketProvider client={c}>
        <ChatView />
        <Sender />
      </UnisocketProvider>,
    );
    await waitFor(() => expect(text('channel-status')).toBe('subscribed'));
    fireEvent.click(screen.getByText('send'));
    await waitFor(() => expect(text('last')).toBe('clicked'));
    expect(acks).toEqual([1]);
  });
});

describe('presence and private channels', () => {
  const authServer = (): Promise<HubServer> => live.authServer();

  function Room({ onJoin, onLeave }: { onJoin?: (id: string) => void; onLeave?: (id: string) => void }) {
    const room = usePresence(
      'presence-room',
      {},
      { onJoin: (m) => onJoin?.(m.userId), onLeave: (m) => onLeave?.(m.userId) },
    );
    return (
      <p data-testid={`members-${room.isSubscribed ? 'on' : 'off'}`}>
        {room.members
          .map((m) => m.userId)
          .sort()
          .join(',')}
      </p>
    );
  }

  it('usePresence: members with join and leave', async () => {
    const s = await authServer();
    const ann = client(s.url, { token: 'ok:ann' });
    const bob = client(s.url, { token: 'ok:bob' });
    const joined: string[] = [];
    const left: string[] = [];
    const annView = render(
      <UnisocketProvider client={ann}>
        <Room onJoin={(id) => joined.push(id)} onLeave={(id) => left.push(id)} />
      </UnisocketProvider>,
    );
    await waitFor(() => expect(within(annView.container).getByTestId('members-on').textContent).toBe('ann'));
    const bobView = render(
      <UnisocketProvider client={bob}>
        <Room />
      </UnisocketProvider>,
    );
    await waitFor(() => expect(within(bobView.container).getByTestId('members-on').textContent).toBe('ann,bob'));
    await waitFor(() => expect(within(annView.container).getByTestId('members-on').textContent).toBe('ann,bob'));
    expect(joined).toEqual(['bob']);
    bobView.unmount();
    await waitFor(() => expect(within(annView.container).getByTestId('members-on').textContent).toBe('ann'));
    expect(left).toEqual(['bob']);
    await until(() => s.hub.channelSubscribers('presence-room').length === 1);
  });

  it('usePrivateChannel: whisper reaches the other member as client-<event>', async () => {
    const s = await authServer();
    const ann = client(s.url, { token: 'ok:ann' });
    const bob = client(s.url, { token: 'ok:bob' });
    const typing: unknown[] = [];
    let whisper: ((event: string, data?: unknown) => Promise<unknown>) | undefined;
    function Listener() {
      const chat = usePrivateChannel<{ 'client-typing': { user: string } }>('private-chat', {
        'client-typing': (d) => typing.push(d),
      });
      return <p data-testid="ann">{chat.status}</p>;
    }
    function Whisperer() {
      const chat = usePrivateChannel('private-chat');
      whisper = chat.whisper;
      return <p data-testid="bob">{chat.status}</p>;
    }
    render(
      <>
        <UnisocketProvider client={ann}>
          <Listener />
        </UnisocketProvider>
        <UnisocketProvider client={bob}>
          <Whisperer />
        </UnisocketProvider>
      </>,
    );
    await waitFor(() => expect(text('ann')).toBe('subscribed'));
    await waitFor(() => expect(text('bob')).toBe('subscribed'));
    await act(() => whisper!('typing', { user: 'bob' }).then(() => undefined));
    await waitFor(() => expect(typing).toEqual([{ user: 'bob' }]));
  });

  it('a refused subscription shows status error', async () => {
    const s = await authServer();
    const anonymous = client(s.url);
    function Secret() {
      const chat = usePrivateChannel('private-secret');
      return <p data-testid="secret">{chat.status === 'error' ? chat.error?.code : chat.status}</p>;
    }
    render(
      <UnisocketProvider client={anonymous}>
        <Secret />
      </UnisocketProvider>,
    );
    await waitFor(() => expect(text('secret')).toBe('FORBIDDEN'));
  });
});

describe('alternative names', () => {
  it('useBroadcast(options) owns a client; BroadcastSocketProvider + useBroadcastContext + useSubscription', async () => {
    const s = await server();
    function Standalone() {
      const { isConnected, status, client: c } = useBroadcast({ url: s.url, WebSocket });
      const chat = useChannel(c, 'standalone', {});
      return <p data-testid="standalone">{`${String(isConnected)}/${status}/${chat.status}`}</p>;
    }
    const view = render(<Standalone />);
    await waitFor(() => expect(text('standalone')).toBe('true/connected/subscribed'));
    view.unmount();
    await until(() => s.service.getConnectionCount() === 0, 3_000, 'the owned client to disconnect');

    function ContextAndAlias() {
      const { isConnected } = useBroadcastContext();
      const sub = useSubscription('seed');
      return <p data-testid="seed">{`${String(isConnected)}/${sub.status}`}</p>;
    }
    render(
      <BroadcastSocketProvider url={s.url} options={{ WebSocket }}>
        <ContextAndAlias />
      </BroadcastSocketProvider>,
    );
    await waitFor(() => expect(text('seed')).toBe('true/subscribed'));
    cleanup();

    function SocketHook() {
      const { isConnected } = useBroadcastSocket(s.url, { WebSocket });
      return <p data-testid="socket">{String(isConnected)}</p>;
    }
    render(<SocketHook />);
    await waitFor(() => expect(text('socket')).toBe('true'));
    cleanup();

    const c = client(s.url);
    function ContextPresence() {
      const { client: fromContext, isConnected } = useBroadcastContext();
      const room = usePresence(fromContext, 'presence-x');
      return <p data-testid="seed000">{`${String(isConnected)}/${room.members.length}`}</p>;
    }
    render(
      <BroadcastProvider client={c}>
        <ContextPresence />
      </BroadcastProvider>,
    );
    await waitFor(() => expect(text('seed000')).toBe('true/0'));
  });

  it('hooks outside a provider say what to do', () => {
    function Orphan() {
      useChannel('x');
      return null;
    }
    const error = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    expect(() => render(<Orphan />)).toThrow(/UnisocketProvider/);
    expect(() => render(<UnisocketProvider>{null}</UnisocketProvider>)).toThrow(TypeError);
    error.mockRestore();
  });
});
