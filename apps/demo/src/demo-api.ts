import type { IncomingMessage, ServerResponse } from 'node:http';
import { type UnifiedWebSocketService, signConnectionToken } from '@unisocket/server';

/** How many recent chat messages a page that opens shows (it subscribes from that far back). */
export const CHAT_HISTORY_MESSAGES = 50;

/** What `GET /demo/config` answers: what the page needs to know about this server. */
export interface DemoPageConfig {
  /** JWT auth is on (JWT_SECRET set). */
  auth: boolean;
  /** The server signs demo tokens at `/demo/token` (auth on, not production). */
  tokens: boolean;
  presenceChannel: string;
  /** The demo's Pusher app: Laravel Echo connects to `/app/{key}` (`?transport=pusher`). */
  pusher: { key: string };
  /** Which optional parts run, so the page can disable the controls of those that do not. */
  features: {
    /** The Kafka bridge runs (`BROKER=kafka` or `KAFKA_BRIDGE_TOPIC`): the page's *From Kafka* form works. */
    kafka: boolean;
  };
}

/** Settings of {@link demoApi}. */
export interface DemoApiSettings {
  service: UnifiedWebSocketService;
  /** The channel whose recent history `GET /demo/history` gives a starting position for. */
  chatChannel: string;
  page: DemoPageConfig;
  /** Signs `/demo/token` tokens; `undefined` when they are not issued (no JWT_SECRET, or production). */
  tokenSecret: string | undefined;
  tokenTtlSeconds: number;
}

/**
 * The demo's own endpoints for its page; answers `true` when it handled the request:
 * - `GET /demo/config` — {@link DemoPageConfig};
 * - `GET /demo/history` — `{ since: { epoch, offset } }`, the position from which a subscription to the chat replays
 *   its last {@link CHAT_HISTORY_MESSAGES} messages still in the server's history (the page subscribes with it);
 * - `GET /demo/history?epoch=…&after=…` — `{ epoch, complete, messages: [{ id, offset, event, data }] }`, the chat's
 *   messages after that position (at most {@link CHAT_HISTORY_MESSAGES}): what the page reloads when its client reports
 *   a gap (a restarted server's new history holds what was said before this page resubscribed);
 * - `GET /demo/token?name=Ada` — a connection token for the user `ada` (info `{ name: 'Ada' }`), with JWT_SECRET set
 *   and outside production only: the stand-in for a real sign-in.
 */
export async function demoApi(req: IncomingMessage, res: ServerResponse, settings: DemoApiSettings): Promise<boolean> {
  if (req.method !== 'GET') return false;
  const url = new URL(req.url ?? '/', 'http://demo');
  const json = (status: number, body: unknown): true => {
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(JSON.stringify(body));
    return true;
  };
  switch (url.pathname) {
    case '/demo/config':
      return json(200, settings.page);
    case '/demo/history': {
      const epoch = url.searchParams.get('epoch');
      if (epoch === null) return json(200, { since: await chatHistoryStart(settings.service, settings.chatChannel) });
      // decimal digits only, a safe integer: '1e300', '0x10', ' 5' or '' would reach the history store as odd offsets
      const given = url.searchParams.get('after') ?? '0';
      const after = /^\d{1,16}$/.test(given) ? Number(given) : Number.NaN;
      if (epoch === '' || epoch.length > 64 || !Number.isSafeInteger(after)) {
        return json(400, {
          error: 'BAD_REQUEST',
          message: 'give a position: /demo/history?epoch=<the stream epoch>&after=<an offset, an integer >= 0>',
        });
      }
      return json(200, await chatHistoryAfter(settings.service, settings.chatChannel, { epoch, offset: after }));
    }
    case '/demo/token':
      break;
    default:
      return false;
  }
  const secret = settings.tokenSecret;
  if (secret === undefined) {
    return json(404, { error: 'NOT_FOUND', message: 'tokens are issued only with JWT_SECRET set, outside production' });
  }
  const name = (url.searchParams.get('name') ?? '').trim().slice(0, 24);
  const userId = name
    .toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (userId === '') return json(400, { error: 'BAD_REQUEST', message: 'give a name: /demo/token?name=Ada' });
  const token = await signConnectionToken({ secret, userId, info: { name }, expiresIn: settings.tokenTtlSeconds });
  return json(200, { token, userId, expiresIn: settings.tokenTtlSeconds });
}

/**
 * Where to subscribe from so that the last {@link CHAT_HISTORY_MESSAGES} messages are replayed: just before the
 * oldest of them the history still holds (the history keeps a bounded number of messages for a bounded time).
 */
async function chatHistoryStart(
  service: UnifiedWebSocketService,
  channel: string,
): Promise<{ epoch: string; offset: number }> {
  const history = service.broker.history;
  const top = await history.position(channel);
  const from = { epoch: top.epoch, offset: Math.max(0, top.offset - CHAT_HISTORY_MESSAGES) };
  const read = await history.read(channel, from, CHAT_HISTORY_MESSAGES);
  const oldest = read.messages[0];
  // nothing kept: start at the top (no replay)
  if (read.position.epoch !== top.epoch || oldest === undefined) return top;
  return { epoch: top.epoch, offset: oldest.offset - 1 };
}

/** A chat message as `GET /demo/history?epoch&after` gives it. */
export interface HistoryMessage {
  id: string;
  offset: number;
  event: string;
  data: unknown;
}

/** The chat's messages after `after` (same epoch), at most {@link CHAT_HISTORY_MESSAGES}, oldest first. */
async function chatHistoryAfter(
  service: UnifiedWebSocketService,
  channel: string,
  after: { epoch: string; offset: number },
): Promise<{ epoch: string; complete: boolean; messages: HistoryMessage[] }> {
  const read = await service.broker.history.read(channel, after, CHAT_HISTORY_MESSAGES);
  const messages = read.position.epoch !== after.epoch ? [] : read.messages;
  return {
    epoch: read.position.epoch,
    complete: read.complete,
    messages: messages.map((message) => {
      // `line` is the message frame as clients receive it
      const frame = JSON.parse(message.line) as { event: string; data?: unknown };
      return { id: message.id, offset: message.offset, event: frame.event, data: frame.data ?? null };
    }),
  };
}
