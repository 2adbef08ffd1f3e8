import Echo from 'laravel-echo';
import Pusher, { type ChannelAuthorizationHandler, type PresenceChannel } from 'pusher-js';
import { type FormEvent, useEffect, useRef, useState } from 'react';
import {
  CHAT_CHANNEL,
  type DemoConfig,
  TICKER_CHANNEL,
  fetchDemoToken,
  signedInName,
  storeName,
  storedName,
} from './config';
import { TransportSelect } from './TransportSelect';

/**
 * The page on the Pusher protocol (`/?transport=pusher`): Laravel Echo 2 with pusher-js 8, against the demo server's
 * Pusher transport (`/app/{key}`), on the same channels as the native and Socket.IO pages. Echo subscribes to
 * `chat.lobby` and `ticker` (public) and joins `presence-lobby` (authorized by the demo's `POST /broadcasting/auth`
 * with the tab's demo token); the chat line goes out through `POST /demo/say`, because the Pusher protocol has no
 * client publish on public channels.
 */
type DemoEcho = Echo<'pusher'>;

interface Line {
  key: number;
  name: string;
  text: string;
}

/** The chat's `say` event and the typing whisper, as the native page sends them. */
interface Say {
  name?: string;
  text?: string;
}

/** The presence channel's name without Echo's `presence-` prefix (`Echo.join('lobby')` is `presence-lobby`). */
const joinName = (channel: string): string => channel.replace(/^presence-/, '');

export function PusherApp({ config }: { config: DemoConfig }) {
  const [name, setName] = useState(storedName);
  const nameRef = useRef(name);
  nameRef.current = name;
  const [echo, setEcho] = useState<DemoEcho | null>(null);
  const [status, setStatus] = useState('initialized');
  const [socketId, setSocketId] = useState<string | undefined>(undefined);

  useEffect(() => {
    if (config.pusher === undefined) return;
    const instance = connectEcho(config.pusher.key, () => nameRef.current);
    const connection = instance.connector.pusher.connection;
    const onState = ({ current }: { current: string }) => {
      setStatus(current);
      setSocketId(current === 'connected' ? instance.socketId() : undefined);
    };
    connection.bind('state_change', onState);
    setStatus(connection.state);
    setEcho(instance);
    // for the console (and tests): the page's Echo
    (window as { Echo?: unknown }).Echo = instance;
    return () => {
      connection.unbind('state_change', onState);
      instance.disconnect();
    };
  }, [config]);

  return (
    <>
      <header>
        <h1>unisocket</h1>
        <TransportSelect transport="pusher" />
        <span id="status" className="status" data-status={status}>
          {status}
        </span>
        <span id="conn" className="muted">
          {socketId === undefined ? '' : `socket ${socketId}`}
        </span>
        <span
          id="via"
          className="muted"
          data-transport="pusher"
          title="Laravel Echo 2 + pusher-js 8, Pusher protocol 7"
        >
          Echo · /app/{config.pusher?.key ?? '?'}
        </span>
        <a className="nav" href="/dashboard">
          live dashboard →
        </a>
      </header>
      <main>
        {config.pusher === undefined ? (
          <section className="card">this server does not say which Pusher app key to use (GET /demo/config)</section>
        ) : echo === null ? null : (
          <>
            <Chat
              echo={echo}
              presenceChannel={config.tokens ? config.presenceChannel : undefined}
              name={name}
              onName={setName}
              connected={status === 'connected'}
            />
            <Presence echo={echo} config={config} />
            <Ticker echo={echo} />
            <AboutPusher />
          </>
        )}
      </main>
    </>
  );
}

/**
 * Echo on this page's host and port (`/app/{key}`, ws or wss as the page), with pusher-js bundled. Channel
 * authorization goes to the demo's `POST /broadcasting/auth` with a fresh demo token as `Authorization: Bearer …`
 * each time (the tokens live 15 minutes; `auth.headers` would be fixed when Echo is created).
 */
function connectEcho(key: string, getName: () => string): DemoEcho {
  const tls = location.protocol === 'https:';
  const port = location.port === '' ? (tls ? 443 : 80) : Number(location.port);
  const authorize: ChannelAuthorizationHandler = ({ socketId, channelName }, callback) => {
    fetchDemoToken(getName)
      .then((token) =>
        fetch('/broadcasting/auth', {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Bearer ${token}` },
          body: new URLSearchParams({ socket_id: socketId, channel_name: channelName }),
        }),
      )
      .then(async (res) => {
        const body = (await res.json()) as { auth: string; channel_data?: string; message?: string };
        if (!res.ok) throw new Error(`${res.status}: ${body.message ?? 'refused'}`);
        callback(null, body);
      })
      .catch((error: Error) => callback(error, null));
  };
  return new Echo({
    broadcaster: 'pusher',
    Pusher,
    key,
    cluster: 'mt1', // pusher-js wants one; wsHost decides where it connects
    wsHost: location.hostname,
    wsPort: port,
    wssPort: port,
    forceTLS: tls,
    enabledTransports: ['ws', 'wss'],
    authEndpoint: '/broadcasting/auth',
    channelAuthorization: { endpoint: '/broadcasting/auth', transport: 'ajax', customHandler: authorize },
  });
}

function Chat({
  echo,
  presenceChannel,
  name,
  onName,
  connected,
}: {
  echo: DemoEcho;
  /** Where typing whispers go (signed-in tabs only). */
  presenceChannel: string | undefined;
  name: string;
  onName: (name: string) => void;
  connected: boolean;
}) {
  const [lines, setLines] = useState<Line[]>([]);
  const [text, setText] = useState('');
  const [notice, setNotice] = useState('');
  const lastWhisper = useRef(0);
  const list = useRef<HTMLOListElement>(null);
  const seq = useRef(0);

  useEffect(() => {
    const chat = echo.channel(CHAT_CHANNEL);
    // a leading dot: the event name as sent (`say`), without Echo's `App\Events\` namespace
    const onSay = (data: Say) =>
      setLines((previous) =>
        [
          ...previous,
          { key: seq.current++, name: String(data?.name ?? 'anonymous'), text: String(data?.text ?? '') },
        ].slice(-500),
      );
    chat.listen('.say', onSay);
    return () => {
      chat.stopListening('.say', onSay);
    };
  }, [echo]);
  // biome-ignore lint/correctness/useExhaustiveDependencies: scroll to the bottom whenever a line arrives
  useEffect(() => {
    if (list.current !== null) list.current.scrollTop = list.current.scrollHeight;
  }, [lines]);

  const send = (event: FormEvent) => {
    event.preventDefault();
    const said = text.trim();
    if (said === '') return;
    const socketId = echo.socketId();
    if (!connected || socketId === undefined) {
      // pusher-js has no offline queue: say so instead of pretending
      setNotice('not connected: the Pusher protocol has no offline queue, try again once connected');
      return;
    }
    setText('');
    setNotice('');
    // the Pusher protocol has no client publish on public channels: the line goes over HTTP, published by the
    // server as this tab's Pusher connection (its limits and permissions), and comes back on the channel
    fetch('/demo/say', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ socket_id: socketId, name: name || 'anonymous', text: said }),
    })
      .then(async (res) => {
        if (!res.ok) throw new Error(((await res.json()) as { message?: string }).message ?? String(res.status));
      })
      .catch((error: Error) => {
        console.warn(`send failed: ${error.message}`);
        setNotice(`send failed: ${error.message}`);
      });
  };
  const typing = (value: string) => {
    setText(value);
    // a typing indicator is only worth sending live, once the presence channel is subscribed
    const lobby = presenceChannel === undefined ? undefined : echo.connector.channels[presenceChannel];
    if (!connected || lobby === undefined || !lobby.subscription.subscribed) return;
    if (Date.now() - lastWhisper.current < 1000) return;
    lastWhisper.current = Date.now();
    // a client event (`client-typing`) on the presence channel: what the native page sends with client.whisper()
    echo.join(joinName(presenceChannel!)).whisper('typing', { name: signedInName() ?? name });
  };

  return (
    <section className="card chat">
      <h2>
        Chat <span className="muted">#{CHAT_CHANNEL}</span>
      </h2>
      <div id="recovery" className="muted">
        {notice}
      </div>
      <ol id="messages" aria-live="polite" ref={list}>
        {lines.map((line) => (
          <li key={line.key}>
            <b>{line.name}</b>
            <span>{line.text}</span>
          </li>
        ))}
      </ol>
      <form id="say" onSubmit={send}>
        <input
          id="name"
          placeholder="name"
          maxLength={24}
          autoComplete="off"
          value={name}
          onChange={(e) => {
            onName(e.target.value);
            storeName(e.target.value);
          }}
        />
        <input
          id="text"
          placeholder="say something"
          maxLength={500}
          autoComplete="off"
          required
          value={text}
          onChange={(e) => typing(e.target.value)}
        />
        <button type="submit">Send</button>
      </form>
    </section>
  );
}

interface Member {
  id: string;
  name: string;
}

function Presence({ echo, config }: { echo: DemoEcho; config: DemoConfig }) {
  const [members, setMembers] = useState<Member[]>([]);
  const [live, setLive] = useState(false);
  const [error, setError] = useState('');
  const [typing, setTyping] = useState('');
  const timer = useRef<ReturnType<typeof setTimeout>>(undefined);

  useEffect(() => {
    // without demo tokens there is no signed-in user: no presence subscription
    if (!config.tokens) return;
    const name = joinName(config.presenceChannel);
    const lobby = echo.join(name);
    // Echo's here/joining/leaving hand over user_info only; the ids are in pusher-js's member list
    const refresh = () => {
      const list: Member[] = [];
      (lobby.subscription as PresenceChannel).members.each((member: { id: string; info?: { name?: string } }) => {
        list.push({ id: member.id, name: String(member.info?.name ?? member.id) });
      });
      setMembers(list.sort((a, b) => a.id.localeCompare(b.id)));
    };
    lobby
      .here(() => {
        setLive(true);
        setError('');
        refresh();
      })
      .joining(refresh)
      .leaving(refresh)
      .error((e: { error?: string; status?: number }) => {
        setLive(false);
        setError(`presence: ${e?.error ?? 'refused'}${e?.status === undefined ? '' : ` (${e.status})`}`);
      })
      .listenForWhisper('typing', (data: Say) => {
        if (data?.name === undefined || data.name === signedInName()) return;
        setTyping(`${String(data.name)} is typing…`);
        clearTimeout(timer.current);
        timer.current = setTimeout(() => setTyping(''), 2000);
      });
    return () => {
      clearTimeout(timer.current);
      echo.leave(name);
    };
  }, [echo, config]);

  const unavailable = !config.auth
    ? 'presence is off: start the demo with JWT_SECRET (at least 32 bytes) to open presence-lobby'
    : !config.tokens
      ? 'presence: sign in with a token from your identity provider'
      : error;
  return (
    <section className="card">
      <h2>
        Online <span className="muted">#{config.presenceChannel}</span>{' '}
        <span id="membercount" className="muted">
          {config.tokens ? String(members.length) : ''}
        </span>
      </h2>
      <div id="presence" className="muted" data-available={String(unavailable === '')}>
        {unavailable}
      </div>
      <ul id="members" data-live={String(live)}>
        {members.map((member) => (
          <li key={member.id} data-user={member.id}>
            {member.name}
          </li>
        ))}
      </ul>
      <div id="typing" className="muted">
        {typing}
      </div>
    </section>
  );
}

function Ticker({ echo }: { echo: DemoEcho }) {
  const [tick, setTick] = useState<{ price: number; info: string } | null>(null);
  useEffect(() => {
    const ticker = echo.channel(TICKER_CHANNEL);
    const onTick = (data: { symbol: string; price: number; ts: number }) =>
      setTick({ price: data.price, info: `${data.symbol} · ${new Date(data.ts).toLocaleTimeString()}` });
    ticker.listen('.tick', onTick);
    return () => {
      ticker.stopListening('.tick', onTick);
    };
  }, [echo]);
  return (
    <section className="card">
      <h2>
        Live ticker <span className="muted">#{TICKER_CHANNEL}</span>
      </h2>
      <div id="price" className="price">
        {tick === null ? '–' : tick.price.toFixed(2)}
      </div>
      <div id="tickinfo" className="muted">
        {tick?.info ?? ''}
      </div>
    </section>
  );
}

/** What this transport gives and what it does not, next to the native page's recovery state. */
function AboutPusher() {
  return (
    <section className="card recovery-state" id="pusher-notes">
      <h2>
        On the Pusher protocol <span className="muted">what this tab gets</span>
      </h2>
      <ul className="muted">
        <li>
          The same channels as the WebSocket and Socket.IO tabs: chat lines, presence members and typing whispers cross
          between them.
        </li>
        <li>
          No recovery in this tab: it runs plain Echo, so what is published while it is disconnected does not reach it
          (pusher-js reconnects and resubscribes, as on Pusher). The WebSocket and Socket.IO tabs resume with{' '}
          <code>since</code> and show <code>recovered</code>; <code>recoverPusher(echo)</code> of{' '}
          <code>@unisocket/client</code> gives Echo the same.
        </li>
        <li>
          No client publish on public channels in the Pusher protocol: a chat line goes to <code>POST /demo/say</code>,
          which publishes it as this tab's Pusher connection (its rate limit and permissions), and it comes back on{' '}
          <code>chat.lobby</code> like everyone else's. No offline queue: a line typed while disconnected is refused.
        </li>
        <li>
          Presence is authorized by <code>POST /broadcasting/auth</code> with this tab's demo token; typing goes as the
          client event <code>client-typing</code> (Echo's <code>whisper</code>), never echoed to the sender.
        </li>
      </ul>
    </section>
  );
}
