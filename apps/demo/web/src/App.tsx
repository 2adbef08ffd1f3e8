import {
  UnisocketProvider,
  useChannel,
  useConnectionState,
  usePresence,
  usePublish,
  useUnisocketClient,
} from '@unisocket/react';
import { type FormEvent, useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import type { SocketIoConnect, StreamPosition } from '@unisocket/client';
import { Chat, useHadDisconnect } from './Chat';
import { Intro } from './Intro';
import {
  CHAT_CHANNEL,
  type DemoConfig,
  type DemoTransport,
  KAFKA_EVENTS_CHANNEL,
  KAFKA_OUT_CHANNEL,
  TICKER_CHANNEL,
  clientOptions,
  signedInName,
  storedName,
} from './config';
import { TransportSelect } from './TransportSelect';

type TickerEvents = { tick: { symbol: string; price: number; ts: number } };
type LobbyEvents = { 'client-typing': { name?: string } };

/** The page: one client for the whole tree (created by the provider, connected on mount). */
export function App({
  config,
  transport,
  io,
  chatSince,
}: {
  config: DemoConfig;
  transport: DemoTransport;
  io: SocketIoConnect | undefined;
  /** Where the chat subscription starts: just before the recent history (`GET /demo/history`). */
  chatSince: StreamPosition | undefined;
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
        <Intro />
        <Chat config={config} name={name} onName={setName} since={chatSince} />
        <Presence config={config} />
        <Ticker />
        <KafkaPanel name={name} enabled={config.features?.kafka === true} />
        <RecoveryState config={config} chatSince={chatSince} />
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
      <span className="transport">
        <TransportSelect transport={transport} />
      </span>
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

/** Why the Kafka form is disabled, and how to turn the bridge on. */
const KAFKA_OFF =
  'Kafka is off on this server: start the demo with BROKER=kafka (or KAFKA_BRIDGE_TOPIC) and a Kafka broker (pnpm services:up) to stream a topic here and send notes to it.';

/**
 * Records of a Kafka topic, streamed into `kafka.events` by the server's Kafka bridge (BROKER=kafka or
 * KAFKA_BRIDGE_TOPIC); a note published on `kafka.out` goes to the topic through the bridge and comes back here.
 * Without the bridge (the server's `/demo/config` says so) the form is disabled with a hint: a note would go nowhere.
 */
function KafkaPanel({ name, enabled }: { name: string; enabled: boolean }) {
  const publish = usePublish();
  const [records, setRecords] = useState<KafkaRecord[]>([]);
  const [info, setInfo] = useState(enabled ? 'Waiting for records from the Kafka topic…' : KAFKA_OFF);
  const [note, setNote] = useState('');
  useChannel(enabled ? KAFKA_EVENTS_CHANNEL : null, undefined, {
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
    if (!enabled || text === '') return;
    setNote('');
    publish(KAFKA_OUT_CHANNEL, 'note', { name: name || 'anonymous', text }).catch((error: Error) =>
      setInfo(`publish failed: ${error.message}`),
    );
  };
  return (
    <section className="card kafka" data-enabled={String(enabled)}>
      <h2>
        From Kafka <span className="muted">#{KAFKA_EVENTS_CHANNEL}</span>
      </h2>
      <div id="kafkainfo" className="muted" role={enabled ? undefined : 'note'}>
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
        <fieldset disabled={!enabled} title={enabled ? undefined : KAFKA_OFF}>
          <input
            id="note"
            placeholder={enabled ? 'send a note through Kafka' : 'Kafka is off (see above)'}
            aria-label="note for Kafka"
            maxLength={200}
            autoComplete="off"
            required
            value={note}
            onChange={(e) => setNote(e.target.value)}
          />
          <button type="submit">Send</button>
        </fieldset>
      </form>
    </section>
  );
}

/** What the client knows about each channel: the recovery state the hooks expose. */
function RecoveryState({ config, chatSince }: { config: DemoConfig; chatSince: StreamPosition | undefined }) {
  const connection = useConnectionState();
  const hadDisconnect = useHadDisconnect();
  const channels = [
    // the same starting position as the chat's (one subscription per channel: the first holder's `since` counts)
    useChannel(CHAT_CHANNEL, undefined, chatSince === undefined ? {} : { since: chatSince }),
    useChannel(TICKER_CHANNEL),
    useChannel(config.tokens ? config.presenceChannel : null),
    useChannel(config.features?.kafka === true ? KAFKA_EVENTS_CHANNEL : null),
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
                  : c.recovered === null || (!hadDisconnect && c.recovered)
                    ? // before any reconnect, `true` only says the history replayed on load was complete
                      'no reconnect yet'
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
