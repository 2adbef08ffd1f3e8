import type { Backlog } from './backlog';
import type { ChannelPolicy } from './backpressure';
import type { SubscribeContext, SubscribeGrant } from './hub/options';
import type { Reply } from './hub/reply';
import { randomBytes } from 'node:crypto';
import { type Deliverable, exceptKeyOfConnection } from './message';
import type { PreparedBatch } from './prepared-batch';
import type { ChannelKind } from './protocol/channel';
import type {
  ChannelName,
  ClientCommand,
  ConnectionId,
  PresenceMember,
  Ref,
  ServerFrame,
  UserId,
} from './protocol/types';
import type { MaybePromise } from './util';

export { PreparedBatch } from './prepared-batch';

/** Which transport a connection uses. */
export type TransportKind = 'native' | 'socketio' | (string & {});

/**
 * What a transport gives the Hub for one client socket: write a control frame, write a prepared batch,
 * report buffered bytes, close. The Hub never knows which transport a connection uses beyond this.
 */
export interface TransportSocket {
  /**
   * Bytes accepted for this client and not yet handed to the kernel. The Hub reads it on every delivery, so it must
   * be cheap (a field or two).
   */
  readonly bufferedBytes: number;
  /**
   * Registers a listener called every time the socket has written out what it buffered (Node's `drain`). Called at
   * most once per connection, the first time it backs up on a `drop-oldest` or `coalesce-latest` channel.
   * Optional: without it the Hub polls `bufferedBytes` of backed-up connections (`backpressure.drainCheckMs`).
   */
  onDrain?(listener: () => void): void;
  /** Writes one control frame (welcome, ack, error, resync, refresh, ping, pong). */
  sendFrame(frame: ServerFrame): void;
  /** Writes a batch of message/presence lines, encoding it at most once per batch for this transport. */
  sendBatch(batch: PreparedBatch): void;
  /** Closes the connection with a WebSocket close code and a short reason. */
  close(code: number, reason: string): void;
  /**
   * The key messages sent by this socket carry to be kept from it (see {@link Connection.exceptKey}), when the
   * transport has one its clients already know (the Pusher transport: the socket's `socket_id`, which a REST publish
   * names to skip it). Optional: without it the Hub makes a random one. At most 64 of `[A-Za-z0-9_.:=@-]`.
   */
  readonly exclusionKey?: string;
  /**
   * Authorizes this socket's subscriptions itself, instead of the Hub's `policy.authorizeSubscribe`: for a transport
   * whose protocol carries its own authorization (the Pusher transport checks the app's signature). Optional.
   */
  authorizeSubscribe?(channel: ChannelName, context: SubscribeContext): MaybePromise<boolean | SubscribeGrant>;
}

/** Who a connection belongs to, from a token or a custom `authenticate` hook. */
export interface Identity {
  userId: UserId;
  /** Public info shown to presence channel members. */
  info?: unknown;
  /** When the identity expires (epoch ms); the client must refresh it before then. */
  expiresAt?: number;
}

/** What a transport knows about a new client. */
export interface ConnectionInit {
  socket: TransportSocket;
  transport: TransportKind;
  /** The client's address (after trusted proxy headers, if the transport honours them). */
  ip: string;
  /** An identity established during the handshake (token in header, query or cookie). */
  identity?: Identity;
}

// The per-connection state the Hub's parts keep on a Connection, grouped by the part that writes it. The fields stay
// flat on the connection (one object per client keeps the memory per connection low); these types say who owns which.

/** Counters monitoring reads: lines and bytes written (delivery), commands received (the command router). */
export interface ConnectionCounters {
  delivered: number;
  bytesOut: number;
  commandsIn: number;
}

/** The rate limiter's token bucket (hub/rate-limiter.ts). */
export interface RateLimitState {
  /** Tokens left; one per command, refilled at `limits.messagesPerSecond`. */
  tokens: number;
  /** When tokens were last refilled (epoch ms): the time of the last command. */
  refilledAt: number;
  /** Consecutive commands refused. */
  violations: number;
}

/** The session clock's state: when the identity expires and the one timer that enforces it (hub/session-clock.ts). */
export interface SessionState {
  authExpiresAt: number | undefined;
  /** The refresh / expiry timer (one per connection, re-armed, never per message). */
  authTimer: NodeJS.Timeout | undefined;
  /** When the `refresh` frame is due (epoch ms). */
  authRefreshAt: number;
  /** `true` once the `refresh` frame for the current identity was sent. */
  refreshRequested: boolean;
}

/** Backpressure's state: what waits while the connection is backed up (hub/backpressure.ts). */
export interface BacklogState {
  /** What waits while the connection is backed up on drop-oldest / coalesce-latest channels. */
  backlog: Backlog | undefined;
  /** `true` once the Hub registered its drain listener on the socket. */
  drainHooked: boolean;
}

/** The command router's state (hub/router.ts). */
export interface CommandQueueState {
  /** Commands that arrived while an `auth` was being verified; they run after it, in order. */
  held: [ClientCommand, Reply][] | undefined;
}

/** The subscriptions' state (hub/subscriptions.ts). */
export interface SubscriptionState {
  /** Subscriptions by channel, created with the first one. */
  subs: SubscriptionList | undefined;
}

/** The server's admission state (set by `@unisocket/server`, never by the Hub). */
export interface AdmissionState {
  /** `true` when an admission check reserved a slot for this connection: it is released at close. */
  admitted: boolean;
}

/**
 * One client on one transport. Created by the Hub ({@link Hub.addConnection}); transports keep it to pass
 * inbound frames on. Application code reads it in hooks (`authorizeChannel(conn, channel)`).
 */
export class Connection
  implements
    ConnectionCounters,
    RateLimitState,
    SessionState,
    BacklogState,
    CommandQueueState,
    SubscriptionState,
    AdmissionState
{
  readonly id: ConnectionId;
  readonly transport: TransportKind;
  readonly ip: string;
  /** When the connection was accepted (epoch ms). */
  readonly connectedAt = Date.now();
  /** The authenticated user, or `null`. */
  userId: UserId | null = null;
  /** The user's public info (presence). */
  info: unknown = undefined;
  /** When the identity expires (epoch ms), if it does. */
  authExpiresAt: number | undefined = undefined;
  /** `true` once the connection is closed or closing: nothing more is written to it. */
  closed = false;
  /** The close code and reason the server sent, when the server closed it. */
  closedWith: { code: number; reason: string } | undefined = undefined;
  /** Free-form data an application attaches to the connection. */
  data: Record<string, unknown> | undefined = undefined;

  /** @internal message lines delivered (monitoring) */
  delivered = 0;
  /** @internal bytes of batches delivered (monitoring) */
  bytesOut = 0;
  /** @internal commands received (monitoring) */
  commandsIn = 0;
  /** @internal rate limiter tokens */
  tokens: number;
  /** @internal when tokens were last refilled (ms) */
  refilledAt: number;
  /** @internal consecutive commands refused by the rate limiter */
  violations = 0;
  /** @internal subscriptions by channel, created on the first one */
  subs: SubscriptionList | undefined = undefined;
  /** @internal the identity's refresh / expiry timer (one per connection, re-armed, never per message) */
  authTimer: NodeJS.Timeout | undefined = undefined;
  /** @internal what waits while the connection is backed up on drop-oldest / coalesce-latest channels */
  backlog: Backlog | undefined = undefined;
  /** @internal `true` once the Hub registered its drain listener on the socket */
  drainHooked = false;
  /** @internal when the `refresh` frame is due (epoch ms) */
  authRefreshAt = 0;
  /** @internal `true` once the `refresh` frame for the current identity was sent */
  refreshRequested = false;
  /** @internal `true` when an admission check reserved a slot for this connection: it is released at close */
  admitted = false;
  /** @internal commands that arrived while an `auth` was being verified; they run after it, in order */
  held: [ClientCommand, Reply][] | undefined = undefined;

  #exceptKey: string | undefined = undefined;
  #exceptKeys: readonly string[] | undefined = undefined;

  /** @internal */
  constructor(
    id: ConnectionId,
    readonly socket: TransportSocket,
    transport: TransportKind,
    ip: string,
    initialTokens: number,
  ) {
    this.id = id;
    this.transport = transport;
    this.ip = ip;
    this.tokens = initialTokens;
    this.refilledAt = this.connectedAt;
  }

  /**
   * The opaque key a message this connection sends is marked with (the `except` field) so that it is not echoed back
   * to it: the transport's {@link TransportSocket.exclusionKey}, or a random one made on first use. It reveals neither
   * the connection id nor anything else to the message's other subscribers.
   */
  get exceptKey(): string {
    return (this.#exceptKey ??= this.socket.exclusionKey ?? randomBytes(12).toString('base64url'));
  }

  /**
   * @internal The exclusion keys that keep a message from this connection: its {@link exceptKey} and the one-way key
   * of its id (`PublishOptions.exceptConnection`). Made once, on the first batch with exclusions it receives.
   */
  get exceptKeys(): readonly string[] {
    return (this.#exceptKeys ??= [this.exceptKey, exceptKeyOfConnection(this.id)]);
  }

  /** The channels this connection is subscribed to (including its user channel). */
  get channels(): ChannelName[] {
    return this.subs === undefined ? [] : [...this.subs.keys()];
  }

  /** `true` when subscribed to `channel` (or subscribing). */
  isSubscribed(channel: ChannelName): boolean {
    return this.subs?.has(channel) ?? false;
  }

  /**
   * Bytes held for this client that it has not read: buffered in its socket plus messages waiting in its backlog
   * (backed up on `drop-oldest` / `coalesce-latest` channels).
   */
  get bufferedBytes(): number {
    return this.socket.bufferedBytes + (this.backlog?.bytes ?? 0);
  }

  /**
   * `true` when a subscription to `channel` was authorized and is receiving (live, or replaying history):
   * unlike {@link isSubscribed}, a subscription still waiting for its authorization does not count.
   */
  hasSubscription(channel: ChannelName): boolean {
    const state = this.subs?.get(channel)?.state;
    return state === 'live' || state === 'syncing';
  }

  /** Writes a control frame unless the connection is closed. */
  send(frame: ServerFrame): void {
    if (!this.closed) this.socket.sendFrame(frame);
  }
}

// What the Hub keeps per subscription and per channel. They live here, with the connection, because they refer to
// each other: a connection holds its subscriptions, a subscription its channel, a channel its connections.

/**
 * A channel that has local subscribers: who gets its messages and where its stream stands on this node.
 * @internal
 */
export class ChannelState {
  /** Subscribers receiving live batches. */
  readonly live: Set<Connection>;
  /** Subscribers still replaying history; they receive live messages into their own buffer. */
  syncing: Set<Subscription> | undefined = undefined;
  /** Subscriptions holding the channel (pending, syncing, live). At zero the channel is released. */
  refs = 0;
  /** The stream's epoch on this node. */
  epoch = '';
  /** The offset of the last message written to the live subscribers. */
  flushed = 0;
  /** `true` once the broker subscription is in place and `epoch`/`flushed` are known. */
  active = false;
  /** Callbacks waiting for activation. */
  waiters: { ok: () => void; fail: (error: unknown) => void }[] | undefined = undefined;
  /** What arrived since the last flush. */
  pending: Deliverable[] = [];
  /** `true` while queued for the next flush. */
  dirty = false;
  /** Publish time (`ts`) of the oldest stream message in `pending`, `0` when none (publish→flush latency). */
  oldestTs = 0;

  constructor(
    readonly name: ChannelName,
    readonly kind: ChannelKind,
    /** The channel's backpressure policy; `null` for `disconnect` (the plain delivery path). */
    readonly policy: ChannelPolicy | null,
    live?: Set<Connection>,
  ) {
    this.live = live ?? new Set();
  }
}

/**
 * One connection's subscription to one channel.
 * - `pending`: being authorized, or waiting for the channel to activate;
 * - `syncing`: replaying history; live messages are buffered and sent once it has caught up;
 * - `live`: in the channel's live set;
 * - `closed`: unsubscribed.
 * @internal
 */
export class Subscription {
  state: 'pending' | 'syncing' | 'live' | 'closed' = 'pending';
  channel: ChannelState | undefined = undefined;
  /** Offset of the last message sent to this subscriber (filters the seam between replay and live). */
  lastSent = 0;
  /** Live messages received while syncing. */
  buffer: Deliverable[] | undefined = undefined;
  /** `true` once the history replay was written. */
  replayed = false;
  /** The presence member this subscription added, when on a presence channel. */
  member: PresenceMember | undefined = undefined;
  /**
   * The reply the subscribe command is still owed (its ref and the reply callback), until it is acked or refused;
   * a subscription ended before then (unsubscribed while authorizing or replaying) answers it with an error.
   */
  owed: { ref: Ref | undefined; reply: Reply } | undefined = undefined;

  constructor(
    readonly conn: Connection,
    readonly name: ChannelName,
  ) {}
}

/**
 * A connection's subscriptions by channel: the subset of `Map` the Hub uses, on a plain array. A connection holds a
 * handful of subscriptions (at most `limits.maxSubscriptionsPerConnection`), where a linear scan is as fast as hashing,
 * and an idle connection with one subscription costs ~150 bytes less than with a `Map`.
 * @internal
 */
export class SubscriptionList {
  // created with its first element: `[]` followed by a push would allocate room for 17
  #items: Subscription[];

  constructor(first: Subscription) {
    this.#items = [first];
  }

  get size(): number {
    return this.#items.length;
  }

  get(name: ChannelName): Subscription | undefined {
    const items = this.#items;
    for (let i = 0; i < items.length; i++) if (items[i]!.name === name) return items[i];
    return undefined;
  }

  has(name: ChannelName): boolean {
    return this.get(name) !== undefined;
  }

  /** Adds `sub`, replacing the subscription of the same channel if there is one. */
  set(name: ChannelName, sub: Subscription): this {
    const items = this.#items;
    for (let i = 0; i < items.length; i++) {
      if (items[i]!.name === name) {
        items[i] = sub;
        return this;
      }
    }
    items.push(sub);
    return this;
  }

  delete(name: ChannelName): boolean {
    const items = this.#items;
    for (let i = 0; i < items.length; i++) {
      if (items[i]!.name === name) {
        items.splice(i, 1);
        return true;
      }
    }
    return false;
  }

  keys(): IterableIterator<ChannelName> {
    return this.#items.map((sub) => sub.name).values();
  }

  values(): IterableIterator<Subscription> {
    return this.#items.values();
  }
}
