import type { GapInfo, StreamPosition } from '@unisocket/client';
import { useChannel, useConnectionState, usePublish, useUnisocketClient } from '@unisocket/react';
import { type FormEvent, Fragment, useEffect, useRef, useState } from 'react';
import {
  addPending,
  type ChatLines,
  deliver,
  emptyChat,
  groupsByEpoch,
  type PendingLine,
  refuse,
  retry,
  withEpoch,
} from './chat-lines';
import { CHAT_CHANNEL, type DemoConfig, loadChatAfter, signedInName, storeName } from './config';

type ChatEvents = { say: { name?: string; text?: string } };
type SayData = ChatEvents['say'] | undefined;

const deliveredLine = (id: string, epoch: string, offset: number, data: SayData) => ({
  id,
  epoch,
  offset,
  name: String(data?.name ?? 'anonymous'),
  text: String(data?.text ?? ''),
});

/**
 * `true` once the connection was lost after it had been up: from then on `recovered` describes a reconnect (before,
 * a `recovered: true` only says that the history replayed on load was complete).
 */
export function useHadDisconnect(): boolean {
  const { status } = useConnectionState();
  const [seen, setSeen] = useState({ connected: false, lost: false });
  useEffect(() => {
    setSeen((previous) => {
      if (status === 'connected') return previous.connected ? previous : { ...previous, connected: true };
      return previous.connected && !previous.lost ? { ...previous, lost: true } : previous;
    });
  }, [status]);
  return seen.lost;
}

/** A publish id of the page's own (the server dedups on it, so a retry never publishes twice). */
const newLineId = (): string => `line-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;

/**
 * The chat on `chat.lobby`: opens on the recent history (subscribed from `since`, the server replays it), shows a line
 * typed while disconnected as pending until the server delivers it, and keeps lines in (epoch, offset) order with a
 * divider where a restarted server began a new history.
 */
export function Chat({
  config,
  name,
  onName,
  since,
}: {
  config: DemoConfig;
  name: string;
  onName: (name: string) => void;
  since: StreamPosition | undefined;
}) {
  const client = useUnisocketClient();
  const publish = usePublish();
  const connection = useConnectionState();
  const hadDisconnect = useHadDisconnect();
  const [lines, setLines] = useState<ChatLines>(emptyChat);
  const [text, setText] = useState('');
  const [gap, setGap] = useState<GapInfo | null>(null);
  const lastWhisper = useRef(0);
  const list = useRef<HTMLOListElement>(null);
  const chat = useChannel<ChatEvents>(
    CHAT_CHANNEL,
    {
      say: (data, message) => {
        // offsets count within the stream's epoch, which the channel knows (it changes when the server restarts)
        const epoch = client.channelStore(CHAT_CHANNEL).getSnapshot().epoch ?? '';
        setLines((state) => deliver(state, deliveredLine(message.id, epoch, message.offset, data)));
      },
    },
    {
      ...(since === undefined ? {} : { since }),
      onGap: (info) => {
        setGap(info);
        setLines((state) => withEpoch(state, info.position.epoch));
        // what the client missed and the server still holds — in a restarted server's new history, what was said
        // before this page resubscribed — is reloaded from the history (the client goes on live after the gap)
        const { previous, position } = info;
        const after = previous?.epoch === position.epoch ? previous : { epoch: position.epoch, offset: 0 };
        void loadChatAfter(after).then((messages) =>
          setLines((state) =>
            messages
              .filter((m) => m.event === 'say' && m.offset <= position.offset)
              .reduce((s, m) => deliver(s, deliveredLine(m.id, position.epoch, m.offset, m.data as SayData)), state),
          ),
        );
      },
    },
  );
  // biome-ignore lint/correctness/useExhaustiveDependencies: scroll to the bottom whenever a line arrives
  useEffect(() => {
    if (list.current !== null) list.current.scrollTop = list.current.scrollHeight;
  }, [lines]);

  const send = (pending: PendingLine) => {
    // while disconnected the publish waits in the client's queue and goes out (once) after the reconnect; the line
    // shows as pending until the server delivers it back
    publish(CHAT_CHANNEL, 'say', { name: pending.name, text: pending.text }, { id: pending.id }).catch(
      (error: Error) => {
        console.warn(`publish failed: ${error.message}`);
        setLines((state) => refuse(state, pending.id, error.message));
      },
    );
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const said = text.trim();
    if (said === '') return;
    setText('');
    const pending = { id: newLineId(), name: name || 'anonymous', text: said };
    setLines((state) => addPending(state, pending));
    send(pending);
  };
  const typing = (value: string) => {
    setText(value);
    // a typing indicator is only worth sending live (not queued while offline)
    if (!config.tokens || client.status !== 'connected' || Date.now() - lastWhisper.current < 1000) return;
    lastWhisper.current = Date.now();
    client.whisper(config.presenceChannel, 'typing', { name: signedInName() ?? name }).catch(() => undefined);
  };

  const groups = groupsByEpoch(lines);
  const latest = lines.epochs.at(-1);
  // the server restarted and nothing was said in the new history yet: the divider shows it already
  const emptyNewEpoch = latest !== undefined && groups.length > 0 && groups.at(-1)?.epoch !== latest;
  return (
    <section className="card chat">
      <h2>
        Chat <span className="muted">#{CHAT_CHANNEL}</span>
      </h2>
      <div id="recovery" className="muted" data-recovered={String(chat.recovered)}>
        {chat.status === 'recovering'
          ? `disconnected: will resume after offset ${chat.offset ?? '?'} once the server is back`
          : recoveryText(chat.recovered, chat.offset, gap, hadDisconnect, lines.delivered.length)}
      </div>
      <ol id="messages" aria-live="polite" ref={list}>
        {groups.map((group, index) => (
          <Fragment key={group.epoch}>
            {index > 0 && <Divider epoch={group.epoch} />}
            {group.lines.map((line) => (
              <li key={line.id} data-offset={line.offset} data-epoch={line.epoch} data-id={line.id}>
                <b>{line.name}</b>
                <span>{line.text}</span>
                <span className="offset">#{line.offset}</span>
              </li>
            ))}
          </Fragment>
        ))}
        {emptyNewEpoch && <Divider epoch={latest} />}
        {lines.pending.map((pending) => (
          <li
            key={pending.id}
            className="pending"
            data-id={pending.id}
            data-state={pending.error === undefined ? 'sending' : 'failed'}
          >
            <b>{pending.name}</b>
            <span>{pending.text}</span>
            {pending.error === undefined ? (
              <span className="offset">
                {connection.status === 'connected' ? 'sending…' : 'sending… (waits for the connection)'}
              </span>
            ) : (
              <span className="line-error">
                not sent: {pending.error}{' '}
                <button
                  type="button"
                  className="retry"
                  onClick={() => {
                    setLines((state) => retry(state, pending.id));
                    send(pending);
                  }}
                >
                  retry
                </button>
              </span>
            )}
          </li>
        ))}
      </ol>
      <form id="say" onSubmit={submit}>
        <input
          id="name"
          placeholder="name"
          aria-label="your name"
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
          aria-label="message"
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

/** Where a restarted server began a new history: offsets start again from 1 below it. */
function Divider({ epoch }: { epoch: string }) {
  return (
    <li className="divider" data-epoch={epoch}>
      server restarted — new history (offsets start again)
    </li>
  );
}

function recoveryText(
  recovered: boolean | null,
  offset: number | null,
  gap: GapInfo | null,
  hadDisconnect: boolean,
  lineCount: number,
): string {
  if (!hadDisconnect) {
    if (recovered === false && gap !== null) return 'the recent history was gone by the time this page subscribed';
    return lineCount === 0 ? 'no recent messages: say something' : 'the recent history, then live';
  }
  if (recovered === true) return `recovered after reconnect at offset ${offset ?? '?'}: no message missed`;
  if (recovered === false) {
    if (gap !== null && gap.previous !== null && gap.previous.epoch !== gap.position.epoch) {
      return 'reconnected to a restarted server with a new history (recovered: false): anything said while this page was away, before the restart, is lost';
    }
    const after = gap?.previous?.offset;
    return `reconnected: some messages were missed${after === undefined ? '' : ` after offset ${after}`} (recovered: false)`;
  }
  return '';
}
