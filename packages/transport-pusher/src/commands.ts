import {
  type AckFrame,
  type Connection,
  ErrorCode,
  type ErrorFrame,
  type MaybePromise,
  type PresenceMember,
  type ServerFrame,
  type StreamPosition,
  type SubscribeContext,
  type SubscribeGrant,
  UnisocketError,
  channelKind,
  isPromiseLike,
} from '@unisocket/core';
import { SERVER_TO_USER_PREFIX, isCacheChannel, pusherUserOf } from './namespace';
import type { PusherSocket } from './pusher-socket';
import { verifyChannelAuth, verifyUserAuth } from './signature';
import { pusherEventOfLine } from './translate';

/** The most nested levels accepted in an inbound event (as the Hub's own decoder bounds them). */
const MAX_DEPTH = 32;
/** The longest epoch a `since` may name (as the Hub's own decoder bounds it). */
const MAX_EPOCH_LENGTH = 64;

interface InboundEvent {
  event?: unknown;
  channel?: unknown;
  data?: unknown;
}

/** One inbound Pusher event (a WebSocket text message). */
export function handleEvent(socket: PusherSocket, conn: Connection, text: string): void {
  let message: InboundEvent;
  try {
    message = JSON.parse(text) as InboundEvent;
  } catch {
    socket.sendError(null, 'every message must be a JSON object: {"event":…,"data":…}');
    return;
  }
  if (typeof message !== 'object' || message === null || typeof message.event !== 'string') {
    socket.sendError(null, 'every message must be a JSON object with a string "event"');
    return;
  }
  const data =
    typeof message.data === 'string' && message.event.startsWith('pusher:') ? parse(message.data) : message.data;
  switch (message.event) {
    case 'pusher:ping':
      socket.sendEvent('pusher:pong', {});
      return;
    case 'pusher:pong':
      return;
    case 'pusher:subscribe':
      subscribe(socket, conn, (data ?? {}) as Record<string, unknown>);
      return;
    case 'pusher:unsubscribe':
      unsubscribe(socket, conn, (data ?? {}) as Record<string, unknown>);
      return;
    case 'pusher:signin':
      signin(socket, conn, (data ?? {}) as Record<string, unknown>);
      return;
  }
  if (message.event.startsWith('client-')) {
    clientEvent(socket, conn, message.event, message.channel, message.data);
    return;
  }
  // Pusher ignores events it does not know; so does unisocket
}

function subscribe(socket: PusherSocket, conn: Connection, data: Record<string, unknown>): void {
  const ns = socket.namespace!;
  const name = data.channel;
  if (typeof name === 'string' && name.startsWith(SERVER_TO_USER_PREFIX)) {
    // pusher-js subscribes to its user's channel after `pusher:signin`; the Hub did at sign-in already
    const ok = socket.signedIn !== undefined && name === SERVER_TO_USER_PREFIX + socket.signedIn;
    if (ok) socket.sendEvent('pusher_internal:subscription_succeeded', '{}', name);
    else subscriptionError(socket, name, 'AuthError', `sign in as the user of "${name}" first`, 403);
    return;
  }
  const hubName = ns.toHub(name);
  if (hubName === undefined) {
    subscriptionError(
      socket,
      typeof name === 'string' ? name : '',
      'InvalidChannel',
      'invalid channel name: use 1-164 characters of [A-Za-z0-9_-=@.]',
      400,
    );
    return;
  }
  const pusherName = name as string;
  const token = typeof data.auth === 'string' ? data.auth : undefined;
  const channelData = typeof data.channel_data === 'string' ? data.channel_data : undefined;
  const since = data.since === undefined || data.since === null ? undefined : readPosition(data.since);
  if (since === null) {
    subscriptionError(
      socket,
      pusherName,
      ErrorCode.BAD_REQUEST,
      `"since" must be {"epoch": string (at most ${MAX_EPOCH_LENGTH} chars), "offset": non-negative integer}`,
      400,
    );
    return;
  }
  const reply = (frame: ServerFrame): void => {
    if (frame.type === 'error') {
      const error = frame as ErrorFrame;
      const auth = error.code === ErrorCode.FORBIDDEN || error.code === ErrorCode.UNAUTHORIZED;
      subscriptionError(socket, pusherName, auth ? 'AuthError' : error.code, error.message, errorStatus(error.code));
      return;
    }
    if (frame.type !== 'ack') return;
    const ack = frame as AckFrame;
    // the stream position the subscription starts at (and whether `since` was recovered): the epoch of the
    // positions its events carry, and what the recovery helper resubscribes from; pusher-js ignores the field
    const position: { epoch?: string; offset?: number; recovered?: boolean } = {};
    if (ack.epoch !== undefined) {
      (socket.epochs ??= new Map()).set(hubName, ack.epoch);
      position.epoch = ack.epoch;
    }
    if (ack.offset !== undefined) position.offset = ack.offset;
    if (ack.recovered !== undefined) position.recovered = ack.recovered;
    socket.sendEvent('pusher_internal:subscription_succeeded', subscribedData(ack.members), pusherName, position);
    // a recovered subscription has the last event already (or gets it in the replay)
    if (isCacheChannel(pusherName) && ack.recovered !== true) sendCached(socket, conn, hubName, pusherName, ack);
  };
  socket.owner!.hub.handleCommand(
    conn,
    {
      type: 'subscribe',
      channel: hubName,
      ...(token === undefined ? {} : { token }),
      ...(channelData === undefined ? {} : { channelData }),
      ...(since === undefined ? {} : { since }),
    },
    reply,
  );
}

/** The data of `pusher_internal:subscription_succeeded`: `{}`, or the presence members. */
function subscribedData(members: PresenceMember[] | undefined): string {
  if (members === undefined) return '{}';
  const ids: string[] = [];
  const hash: Record<string, unknown> = {};
  for (const member of members) {
    const id = pusherUserOf(member.userId);
    ids.push(id);
    hash[id] = member.info ?? null;
  }
  return JSON.stringify({ presence: { ids, hash, count: ids.length } });
}

/**
 * A cache channel's last event from the history (the one at the subscription's start), or `pusher:cache_miss` (also
 * reported to the Hub: its `cacheMiss` event, with the Hub's channel name).
 */
function sendCached(socket: PusherSocket, conn: Connection, hubName: string, pusherName: string, ack: AckFrame): void {
  const miss = (): void => {
    socket.sendEvent('pusher:cache_miss', {}, pusherName);
    socket.owner!.hub.reportCacheMiss(conn, hubName);
  };
  if (ack.epoch === undefined || ack.offset === undefined || ack.offset === 0) {
    miss();
    return;
  }
  const history = socket.owner!.hub.broker.history;
  settle(
    () => history.read(hubName, { epoch: ack.epoch!, offset: ack.offset! - 1 }, 1),
    (read) => {
      const last = read.messages[0];
      const text = last === undefined ? undefined : pusherEventOfLine(last.line, pusherName);
      if (text === undefined) miss();
      else if (socket.readyState === socket.OPEN) socket.send(text);
    },
    miss,
  );
}

function unsubscribe(socket: PusherSocket, conn: Connection, data: Record<string, unknown>): void {
  const name = data.channel;
  if (typeof name === 'string' && name.startsWith(SERVER_TO_USER_PREFIX)) return;
  const hubName = socket.namespace!.toHub(name);
  if (hubName === undefined) return;
  socket.members?.delete(hubName);
  socket.epochs?.delete(hubName);
  socket.owner!.hub.handleCommand(conn, { type: 'unsubscribe', channel: hubName }, ignore);
}

/**
 * The subscription's authorization: public channels are open; `private-` (also `private-encrypted-`) and
 * `presence-` need the app's signature over `socket_id:channel[:channel_data]`; a presence channel's member is
 * `channel_data`'s `user_id` (scoped to the app) with its `user_info`, within the app's `maxPresenceMembers`.
 */
export function authorizeSubscribe(
  socket: PusherSocket,
  hubChannel: string,
  context: SubscribeContext,
): MaybePromise<boolean | SubscribeGrant> {
  const ns = socket.namespace!;
  const { kind, token, channelData } = context;
  if (kind === 'public') return true;
  if (kind !== 'private' && kind !== 'presence') return false;
  const pusherName = hubChannel.slice(ns.prefix.length);
  const { key, secret } = ns.app;
  if (
    !verifyChannelAuth(key, secret, socket.socketId, pusherName, token, kind === 'presence' ? channelData : undefined)
  ) {
    throw new UnisocketError(ErrorCode.FORBIDDEN, `invalid signature for "${pusherName}"`);
  }
  if (kind === 'private') return true;
  const parsed = channelData === undefined ? undefined : (parse(channelData) as Record<string, unknown> | undefined);
  const rawId = parsed?.user_id;
  const userId = typeof rawId === 'string' || typeof rawId === 'number' ? ns.userToHub(String(rawId)) : undefined;
  if (userId === undefined) {
    throw new UnisocketError(ErrorCode.BAD_REQUEST, 'presence channel_data must hold a "user_id" (a string)');
  }
  (socket.members ??= new Map()).set(hubChannel, userId);
  const grant: SubscribeGrant = { userId };
  if (parsed?.user_info !== undefined) grant.info = parsed.user_info;
  const max = ns.app.maxPresenceMembers;
  return then(socket.owner!.hub.presenceMembers(hubChannel), (members) => {
    if (members.length >= max && !members.some((m) => m.userId === userId)) {
      throw new UnisocketError(ErrorCode.LIMIT_EXCEEDED, `presence channel "${pusherName}" is full (${max} members)`);
    }
    return grant;
  });
}

function signin(socket: PusherSocket, conn: Connection, data: Record<string, unknown>): void {
  const ns = socket.namespace!;
  const userData = data.user_data;
  if (
    typeof userData !== 'string' ||
    !verifyUserAuth(ns.app.key, ns.app.secret, socket.socketId, userData, data.auth)
  ) {
    socket.sendError(4009, 'pusher:signin: invalid signature');
    return;
  }
  const user = parse(userData) as Record<string, unknown> | undefined;
  const id = typeof user?.id === 'string' ? ns.userToHub(user.id) : undefined;
  if (id === undefined) {
    socket.sendError(4009, 'pusher:signin: user_data must hold a string "id"');
    return;
  }
  try {
    socket.owner!.hub.identify(
      conn,
      user?.user_info === undefined ? { userId: id } : { userId: id, info: user.user_info },
    );
  } catch (error) {
    socket.sendError(4009, error instanceof Error ? error.message : String(error));
    return;
  }
  socket.signedIn = user!.id as string;
  socket.sendEvent('pusher:signin_success', { user_data: userData });
}

function clientEvent(socket: PusherSocket, conn: Connection, event: string, channel: unknown, data: unknown): void {
  const ns = socket.namespace!;
  const app = ns.app;
  const hubName = ns.toHub(channel);
  const refuse = (why: string): void => socket.sendError(4301, `client event "${event.slice(0, 60)}" refused: ${why}`);
  if (!app.clientEvents) {
    refuse('client events are disabled for this app');
    return;
  }
  if (hubName === undefined) {
    refuse('invalid channel');
    return;
  }
  const kind = channelKind(hubName);
  if ((kind !== 'private' && kind !== 'presence') || hubName.startsWith('private-encrypted-', ns.prefix.length)) {
    refuse('client events are only allowed on private and presence channels');
    return;
  }
  if (!conn.hasSubscription(hubName)) {
    refuse(`subscribe to "${String(channel)}" first`);
    return;
  }
  if (event.length > 200) {
    refuse('the event name is over 200 characters');
    return;
  }
  const value = typeof data === 'string' ? (parse(data) ?? data) : data;
  let json: string | undefined;
  try {
    json = JSON.stringify(value ?? null);
  } catch {
    refuse('data is not JSON');
    return;
  }
  if (json === undefined || Buffer.byteLength(json) > app.maxEventBytes) {
    refuse(`data is over ${app.maxEventBytes} bytes`);
    return;
  }
  if (exceedsDepth(value, MAX_DEPTH)) {
    refuse(`data is nested deeper than ${MAX_DEPTH} levels`);
    return;
  }
  if (!takeEventToken(socket, app.clientEventsPerSecond)) {
    refuse(`over ${app.clientEventsPerSecond} client events per second`);
    return;
  }
  const sender = kind === 'presence' ? socket.members?.get(hubName) : undefined;
  socket.owner!.hub.handleCommand(
    conn,
    {
      type: 'publish',
      channel: hubName,
      event,
      data: value ?? null,
      exceptSender: true,
      ...(sender === undefined ? {} : { senderUserId: sender }),
    },
    (frame) => {
      if (frame.type === 'error') refuse((frame as ErrorFrame).message);
    },
  );
}

/** The per-connection client event bucket: `rate` per second, bursts of `rate`. */
function takeEventToken(socket: PusherSocket, rate: number): boolean {
  const now = Date.now();
  if (socket.eventsRefilledAt === 0) socket.eventTokens = rate;
  else socket.eventTokens = Math.min(rate, socket.eventTokens + ((now - socket.eventsRefilledAt) * rate) / 1000);
  socket.eventsRefilledAt = now;
  if (socket.eventTokens < 1) return false;
  socket.eventTokens -= 1;
  return true;
}

function subscriptionError(socket: PusherSocket, channel: string, type: string, error: string, status: number): void {
  socket.sendEvent('pusher:subscription_error', { type, error, status }, channel);
}

function errorStatus(code: string): number {
  switch (code) {
    case ErrorCode.UNAUTHORIZED:
      return 401;
    case ErrorCode.FORBIDDEN:
      return 403;
    case ErrorCode.RATE_LIMITED:
      return 429;
    case ErrorCode.LIMIT_EXCEEDED:
      return 429;
    case ErrorCode.BAD_REQUEST:
      return 400;
    case ErrorCode.UNAVAILABLE:
      return 503;
    default:
      return 500;
  }
}

/** A `since` position `{ epoch, offset }`, or `null` when it is malformed. */
function readPosition(value: unknown): StreamPosition | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const { epoch, offset } = value as { epoch?: unknown; offset?: unknown };
  if (typeof epoch !== 'string' || epoch.length > MAX_EPOCH_LENGTH) return null;
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) return null;
  return { epoch, offset };
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function exceedsDepth(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    if (depth > max) return true;
    for (const child of Object.values(node))
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
  return false;
}

function then<T, R>(value: MaybePromise<T>, next: (value: T) => R): MaybePromise<R> {
  return isPromiseLike(value) ? (value as Promise<T>).then(next) : next(value as T);
}

function settle<T>(run: () => MaybePromise<T>, ok: (value: T) => void, fail: (error: unknown) => void): void {
  try {
    const value = run();
    if (isPromiseLike(value)) (value as Promise<T>).then(ok, fail);
    else ok(value as T);
  } catch (error) {
    fail(error);
  }
}

function ignore(): void {}
