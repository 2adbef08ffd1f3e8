import {
  type ChannelState,
  UnisocketProvider,
  useChannel,
  useConnectionState,
  usePresence,
  usePublish,
  useUnisocketClient,
} from '@unisocket/react';
import { type FormEvent, useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import type { SocketIoConnect } from '@unisocket/client';
import {
  CHAT_CHANNEL,
  type DemoConfig,
  type DemoTransport,
  KAFKA_EVENTS_CHANNEL,
  KAFKA_OUT_CHANNEL,
  TICKER_CHANNEL,
  clientOptions,
  signedInName,
  storeName,
  storedName,
} from './config';
import { TransportSelect } from './TransportSelect';

type ChatEvents = { say: { name?: string; text?: string } };
type TickerEvents = { tick: { symbol: string; price: number; ts: number } };
type LobbyEvents = { 'client-typing': { name?: string } };

interface Line {
  id: string;
  offset: number;
  name: string;
  text: string;
}

/** The page: one client for the whole tree (created by the provider, connected on mount). */
export function App({
  config,
  transport,
  io,
}: {
  config: DemoConfig;
  transport: DemoTransport;
  io: SocketIoConnect | undefined;
}) {
  const [name, setName] = useState(storedName);
  const nameRef = useRef(name);
  nameRef.current = name;
  // created once; the provider ignores later option changes
  const options = useMemo(() => clientOptions(config, () => nameRef.current, io), [config, io]);
  return (
    <UnisocketProvider options={options}>
      <Header transport={transport} />
      <main>
        <Chat config={config} name={name} onName={setName} />
        <Presence config={config} />
        <Ticker />
        <KafkaPanel name={name} />
        <RecoveryState config={config} />
      </main>
    </UnisocketProvider>
  );
}

function Header({ transport }: { transport: DemoTransport }) {
  const client = useUnisocketClient();
  // for the console (and tests): the page's client
  useEffect(() => {
    (window as { unisocketClient?: unknown }).unisocketClient = client;
  }, [client]);
  const connection = useConnectionState();
  const sharing = client.connectionSharing;
  const share = useSyncExternalStore(
    sharing?.subscribe ?? noSubscribe,
    () => sharing?.getSnapshot() ?? null,
    () => null,
  );
  return (
    <header>
      <h1>unisocket</h1>
      <TransportSelect transport={transport} />
      <span id="status" className="status" data-status={connection.status}>
        {connection.status}
      </span>
      <span id="conn" className="muted">
        {connection.connectionId === null ? '' : `connection ${connection.connectionId}`}
      </span>
      {share !== null && (
        <span
          id="tab"
          className="muted"
          data-role={share.role}
          title="shareConnection: the tabs of this browser share one WebSocket"
        >
          {share.role === 'leader'
            ? 'this tab holds the connection'
            : share.role === 'follower'
              ? 'via another tab'
              : share.role === 'unsupported'
                ? 'own connection'
                : ''}
        </span>
      )}
      <a className="nav" href="/dashboard">
        live dashboard →
      </a>
    </header>
  );
}

const noSubscribe = (): (() => void) => () => undefined;

function Chat({ config, name, onName }: { config: DemoConfig; name: string; onName: (name: string) => void }) {
  const client = useUnisocketClient();
  const publish = usePublish();
  const [lines, setLines] = useState<Line[]>([]);
  const [text, setText] = useState('');
  const [notice, setNotice] = useState('');
  const lastWhisper = useRef(0);
  const list = useRef<HTMLOListElement>(null);
  const chat = useChannel<ChatEvents>(
    CHAT_CHANNEL,
    {
      say: (data, message) =>
        setLines((previous) =>
          [
            ...previous,
            {
              id: message.id,
              offset: message.offset,
              name: String(data?.name ?? 'anonymous'),
              text: String(data?.text ?? ''),
            },
          ].slice(-500),
        ),
    },
    {
      onGap: (gap) =>
        setNotice(`missed messages after offset ${gap.previous?.offset ?? '?'} (history no longer had them)`),
    },
  );
  // biome-ignore lint/correctness/useExhaustiveDependencies: scroll to the bottom whenever a line arrives
  useEffect(() => {
    if (list.current !== null) list.current.scrollTop = list.current.scrollHeight;
  }, [lines]);

  const send = (event: FormEvent) => {
    event.preventDefault();
    const said = text.trim();
    if (said === '') return;
    setText('');
    // while disconnected the publish waits in the client's queue and goes out (once) after the reconnect
    publish(CHAT_CHANNEL, 'say', { name: name || 'anonymous', text: said }).catch((error: Error) => {
      console.warn(`publish failed: ${error.message}`);
      setNotice(`publish failed: ${error.message}`);
    });
  };
  const typing = (value: string) => {
    setText(value);
    // a typing indicator is only worth sending live (not queued while offline)
    if (!config.tokens || client.status !== 'connected' || Date.now() - lastWhisper.current < 1000) return;
    lastWhisper.current = Date.now();
    client.whisper(config.presenceChannel, 'typing', { name: signedInName() ?? name }).catch(() => undefined);
  };

  return (
    <section className="card chat">
      <h2>
        Chat <span className="muted">#{CHAT_CHANNEL}</span>
      </h2>
      <div id="recovery" className="muted" data-recovered={String(chat.recovered)}>
        {recoveryText(chat, notice)}
      </div>
      <ol id="messages" aria-live="polite" ref={list}>
        {lines.map((line) => (
          <li key={line.id} data-offset={line.offset}>
            <b>{line.name}</b>
            <span>{line.text}</span>
            <span className="offset">#{line.offset}</span>
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

function recoveryText(chat: ChannelState, notice: string): string {
  if (notice !== '' && chat.recovered !== true) return notice;
  if (chat.recovered === true) return `recovered after reconnect at offset ${chat.offset}: no message missed`;
  if (chat.recovered === false) return 'reconnected: some messages were missed';
  return notice;
}

function Presence({ config }: { config: DemoConfig }) {
  const [typing, setTyping] = useState('');
  const timer = useRef<ReturnType<typeof setTimeout>>(undefined);
  // without demo tokens there is no signed-in user: no presence subscription (null channel)
  const lobby = usePresence<LobbyEvents>(config.tokens ? config.presenceChannel : null, {
    'client-typing': (data) => {
      if (data?.name === undefined || data.name === signedInName()) return;
      setTyping(`${String(data.name)} is typing…`);
      clearTimeout(timer.current);
      timer.current = setTimeout(() => setTyping(''), 2000);
    },
  });
  useEffect(() => () => clearTimeout(timer.current), []);
  const unavailable = !config.auth
    ? 'presence is off: start the demo with JWT_SECRET (at least 32 bytes) to open presence-lobby'
    : !config.tokens
      ? 'presence: sign in with a token from your identity provider'
      : lobby.status === 'error'
        ? `presence: ${lobby.error?.message ?? 'refused'}`
        : '';
  return (
    <section className="card">
      <h2>
        Online <span className="muted">#{config.presenceChannel}</span>{' '}
        <span id="membercount" className="muted">
          {config.tokens ? String(lobby.members.length) : ''}
        </span>
      </h2>
      <div id="presence" className="muted" data-available={String(unavailable === '')}>
        {unavailable}
      </div>
      <ul id="members" data-live={String(lobby.isSubscribed)}>
        {lobby.members.map((member) => (
          <li key={member.userId} data-user={member.userId}>
            {String((member.info as { name?: string } | undefined)?.name ?? member.userId)}
          </li>
        ))}
      </ul>
      <div id="typing" className="muted">
        {typing}
      </div>
    </section>
  );
}

function Ticker() {
  const [tick, setTick] = useState<{ price: number; info: string } | null>(null);
  useChannel<TickerEvents>(TICKER_CHANNEL, {
    tick: (data, message) =>
      setTick({
        price: data.price,
        info: `${data.symbol} · offset ${message.offset} · ${new Date(data.ts).toLocaleTimeString()}`,
      }),
  });
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

interface KafkaRecord {
  id: string;
  event: string;
  text: string;
  offset: number;
}

/**
 * Records of a Kafka topic, streamed into `kafka.events` by the server's Kafka bridge (BROKER=kafka or
 * KAFKA_BRIDGE_TOPIC); a note published on `kafka.out` goes to the topic through the bridge and comes back here.
 */
function KafkaPanel({ name }: { name: string }) {
  const publish = usePublish();
  const [records, setRecords] = useState<KafkaRecord[]>([]);
  const [info, setInfo] = useState(
    'Waiting for records… the Kafka bridge runs when the demo starts with BROKER=kafka (or KAFKA_BRIDGE_TOPIC).',
  );
  const [note, setNote] = useState('');
  useChannel(KAFKA_EVENTS_CHANNEL, undefined, {
    onMessage: (message) => {
      setRecords((previous) =>
        [
          { id: message.id, event: message.event, text: JSON.stringify(message.data), offset: message.offset },
          ...previous,
        ].slice(0, 20),
      );
      setInfo(`last record ${new Date().toLocaleTimeString()}`);
    },
  });
  const send = (event: FormEvent) => {
    event.preventDefault();
    const text = note.trim();
    if (text === '') return;
    setNote('');
    publish(KAFKA_OUT_CHANNEL, 'note', { name: name || 'anonymous', text }).catch((error: Error) =>
      setInfo(`publish failed: ${error.message}`),
    );
  };
  return (
    <section className="card kafka">
      <h2>
        From Kafka <span className="muted">#{KAFKA_EVENTS_CHANNEL}</span>
      </h2>
      <div id="kafkainfo" className="muted">
        {info}
      </div>
      <ol id="kafka-events" aria-live="polite">
        {records.map((record) => (
          <li key={record.id}>
            <b>{record.event}</b>
            <span>{record.text}</span>
            <span className="offset">#{record.offset}</span>
          </li>
        ))}
      </ol>
      <form id="to-kafka" onSubmit={send}>
        <input
          id="note"
          placeholder="send a note through Kafka"
          maxLength={200}
          autoComplete="off"
          required
          value={note}
          onChange={(e) => setNote(e.target.value)}
        />
        <button type="submit">Send</button>
      </form>
    </section>
  );
}

/** What the client knows about each channel: the recovery state the hooks expose. */
function RecoveryState({ config }: { config: DemoConfig }) {
  const connection = useConnectionState();
  const channels = [
    useChannel(CHAT_CHANNEL),
    useChannel(TICKER_CHANNEL),
    useChannel(config.tokens ? config.presenceChannel : null),
    useChannel(KAFKA_EVENTS_CHANNEL),
  ].filter((c) => c.channel !== '');
  return (
    <section className="card recovery-state">
      <h2>
        Recovery state <span className="muted">what the hooks expose</span>
      </h2>
      <table id="channels">
        <thead>
          <tr>
            <th>channel</th>
            <th>status</th>
            <th>position</th>
            <th>recovered</th>
          </tr>
        </thead>
        <tbody>
          {channels.map((c) => (
            <tr key={c.channel} data-channel={c.channel} data-status={c.status} data-recovered={String(c.recovered)}>
              <td>{c.channel}</td>
              <td>{c.status}</td>
              <td>{c.offset === null ? '–' : `${(c.epoch ?? '').slice(0, 8)}…:${c.offset}`}</td>
              <td className={`recovered-${String(c.recovered)}`}>
                {c.status === 'recovering'
                  ? 'recovering…'
                  : c.recovered === null
                    ? 'no reconnect yet'
                    : c.recovered
                      ? 'yes, nothing missed'
                      : 'no: messages missed'}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="muted" id="connection-detail">
        attempt {connection.attempt} · {connection.pendingPublishes} publish(es) waiting
        {connection.lastError === null ? '' : ` · last error: ${connection.lastError.message}`}
      </p>
    </section>
  );
}
