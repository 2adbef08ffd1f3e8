import { EventEmitter } from 'node:events';
import { Backlog } from './backlog';
import {
  type BackpressureOptions,
  type ChannelPolicy,
  type DropReason,
  type ResolvedBackpressure,
  defaultLowWaterBytes,
  resolveBackpressure,
} from './backpressure';
import type { Broker, BrokerHost } from './broker';
import { type DecodeLimits, decodeFrame } from './codec';
import { ChannelState, Connection, type ConnectionInit, type Identity, Subscription, SubscriptionList } from './connection';
import { PreparedBatch } from './prepared-batch';
import { LatencyRecorder, type LatencyRecorderOptions } from './latency';
import { MemoryBroker } from './memory-broker';
import { type Deliverable, type StreamMessage, messageHead } from './message';
import { channelKind, type ChannelKind, isValidChannelName, userChannel, userIdOfChannel } from './protocol/channel';
import { BROADCAST_CHANNEL, CloseCode, ErrorCode, MAX_EVENT_LENGTH, MESSAGE_ID_PATTERN, PROTOCOL_VERSION } from './protocol/constants';
import { UnisocketError, isUnisocketError } from './protocol/errors';
import type {
  AckFrame,
  AuthCommand,
  ChannelName,
  ClientCommand,
  ConnectionId,
  MessageId,
  PresenceCommand,
  PresenceMember,
  PublishCommand,
  Ref,
  ServerFrame,
  StreamPosition,
  SubscribeCommand,
  UnsubscribeCommand,
  UserId,
} from './protocol/types';
import { IdGenerator, type MaybePromise, assertNodeId, isPromiseLike, randomNodeId, settle } from './util';

/** Limits the Hub enforces per connection. Every one has a default that protects a small server. */
export interface HubLimits {
  /**
   * The largest accepted inbound frame, in bytes. Larger frames get `PAYLOAD_TOO_LARGE` and close 1009.
   * @default 65_536 (64 KiB)
   */
  maxPayloadBytes: number;
  /**
   * The deepest nesting accepted in a published `data`.
   * @default 32
   */
  maxDepth: number;
  /**
   * Outbound bytes held for one connection (in its socket, plus its backlog on `drop-oldest` / `coalesce-latest`
   * channels). On `disconnect` channels (the default) a connection past it is a slow consumer: closed with 4008, it
   * reconnects and recovers from history. See {@link HubOptions.backpressure} for the other policies.
   * @default 1_048_576 (1 MiB)
   */
  maxBufferedBytes: number;
  /**
   * Commands a connection may send per second (token bucket; bursts up to twice this). Beyond it commands get
   * `RATE_LIMITED`; a client that keeps going for another second's worth is closed with 4029.
   * @default 100
   */
  messagesPerSecond: number;
  /**
   * Channels one connection may subscribe to (its user channel included).
   * @default 100
   */
  maxSubscriptionsPerConnection: number;
  /**
   * Live messages buffered for one subscription while it replays history; past it the connection is closed with
   * 4008 and recovers on reconnect.
   * @default 10_000
   */
  maxRecoveryBuffer: number;
}

/** Defaults of {@link HubLimits}. */
export const DEFAULT_HUB_LIMITS: Readonly<HubLimits> = {
  maxPayloadBytes: 64 * 1024,
  maxDepth: 32,
  maxBufferedBytes: 1024 * 1024,
  messagesPerSecond: 100,
  maxSubscriptionsPerConnection: 100,
  maxRecoveryBuffer: 10_000,
};

/** How messages are coalesced into frames. */
export interface BatchOptions {
  /**
   * The most messages of one channel in one frame (maps `MESSAGE_BATCH_SIZE`). A channel that accumulates this
   * many within a tick is flushed at once.
   * @default 100
   */
  maxMessages: number;
  /**
   * How long to wait for more messages before flushing, in ms (maps `MESSAGE_BATCH_DELAY`). `0` flushes at the end
   * of the current event-loop turn: what one tick publishes goes out as one frame, with no added latency.
   * @default 0
   */
  delayMs: number;
}

/** Defaults of {@link BatchOptions}. */
export const DEFAULT_BATCH_OPTIONS: Readonly<BatchOptions> = { maxMessages: 100, delayMs: 0 };

/** Presence behaviour. */
export interface PresenceOptions {
  /**
   * How long after a member's last connection leaves before `leave` is announced, in ms: a page reload within it is
   * neither a leave nor a join.
   * @default 3_000
   */
  leaveGraceMs: number;
  /**
   * The most members a presence channel may have; further users get `LIMIT_EXCEEDED` (a user already present may
   * add connections). Connections within their `leaveGraceMs` still count.
   * @default 1_000
   */
  maxMembers: number;
  /**
   * The most presence channels one connection may be subscribed to at once; further presence subscriptions get
   * `LIMIT_EXCEEDED`. Presence costs more than a plain subscription (a store entry, join/leave fan-out).
   * @default 10
   */
  maxChannelsPerConnection: number;
}

/** Defaults of {@link PresenceOptions}. */
export const DEFAULT_PRESENCE_OPTIONS: Readonly<PresenceOptions> = {
  leaveGraceMs: 3_000,
  maxMembers: 1_000,
  maxChannelsPerConnection: 10,
};

/**
 * How an identity's expiry is enforced during a connection. When a connection's identity has an `expiresAt`, the
 * Hub sends `{"type":"refresh","expiresAt","graceMs"}` ahead of it; the client answers with `auth` and a fresh token
 * for the same user. Without one by `expiresAt + refreshGraceMs` the connection is closed with 4001. Between
 * `expiresAt` and the close, commands other than `auth`, `unsubscribe` and `ping` get `UNAUTHORIZED`.
 */
export interface SessionOptions {
  /**
   * How long before `expiresAt` the `refresh` frame is sent, in ms; when the identity's remaining lifetime is
   * shorter than twice this, it is sent halfway through the remaining lifetime instead.
   * @default 30_000
   */
  refreshLeadMs: number;
  /**
   * How long after `expiresAt` the connection may still refresh before it is closed with 4001, in ms.
   * @default 10_000
   */
  refreshGraceMs: number;
}

/** Defaults of {@link SessionOptions}. */
export const DEFAULT_SESSION_OPTIONS: Readonly<SessionOptions> = { refreshLeadMs: 30_000, refreshGraceMs: 10_000 };

/** setTimeout's largest delay; identities expiring later are re-armed on the way. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What an authorization hook may return to grant a subscription. */
export interface SubscribeGrant {
  /** The member info shown in a presence channel (defaults to the connection's identity info). */
  info?: unknown;
  /**
   * The presence member's user id, for a connection without an identity (a Pusher-style signed `channel_data`).
   * When the connection has an identity, it must be the same user.
   */
  userId?: UserId;
}

/** Context passed to {@link HubPolicy.authorizeSubscribe}. */
export interface SubscribeContext {
  kind: ChannelKind;
  /** The subscription token sent with the command, if any. */
  token: string | undefined;
  /** The Pusher-style `channel_data` sent with the command, if any. */
  channelData: string | undefined;
}

/**
 * Who may do what. The server package builds one from its `auth` and `permissions` options; without a policy,
 * public channels are open, private and presence channels are refused, and clients may not publish.
 */
export interface HubPolicy {
  /** Turns a token from the `auth` command into an identity; throw a {@link UnisocketError} to refuse. */
  authenticate?(conn: Connection, token: string): MaybePromise<Identity>;
  /**
   * Decides a subscription to a public, private or presence channel (user channels are decided by the Hub:
   * only their user). Return `true` or a grant to allow, `false` to refuse, or throw a {@link UnisocketError}
   * with a message that says why.
   */
  authorizeSubscribe?(
    conn: Connection,
    channel: ChannelName,
    context: SubscribeContext,
  ): MaybePromise<boolean | SubscribeGrant>;
  /** Decides a client publish. Return `false` (or throw) to refuse. */
  authorizePublish?(conn: Connection, channel: ChannelName, event: string): MaybePromise<boolean>;
}

/** Options of {@link Hub}. */
export interface HubOptions {
  /**
   * This node's id, unique in the cluster (connection and message ids start with it).
   * @default the broker's node id, or a random one
   */
  nodeId?: string;
  /**
   * How nodes exchange messages; also provides history and presence.
   * @default a new {@link MemoryBroker}
   */
  broker?: Broker;
  /**
   * The heartbeat interval announced in `welcome` (the transports ping at this interval).
   * @default 25_000
   */
  heartbeatMs?: number;
  /** Per-connection limits. */
  limits?: Partial<HubLimits>;
  /** Coalescing of messages into frames. */
  batch?: Partial<BatchOptions>;
  /** Presence behaviour. */
  presence?: Partial<PresenceOptions>;
  /** Enforcement of identity expiry during a connection. */
  session?: Partial<SessionOptions>;
  /** Authentication and authorization hooks. */
  policy?: HubPolicy;
  /**
   * What happens to connections that read slower than their channels publish, per channel pattern.
   * @default { policies: [], default: 'disconnect' }
   */
  backpressure?: BackpressureOptions;
  /** The publish→flush latency recorder (see {@link LatencyRecorder}). */
  latency?: LatencyRecorderOptions;
}

/** The result of a publish. */
export interface PublishAck {
  id: MessageId;
  channel: ChannelName;
  epoch: string;
  offset: number;
  /** The idempotency key was already used within the dedup window: nothing was published again. */
  duplicate?: boolean;
}

/** Options of {@link Hub.publish}. */
export interface PublishOptions {
  /** An idempotency key: a second publish with the same id within the dedup window is not repeated. */
  id?: MessageId;
}

/** Counters kept by the Hub (read by monitoring). Per-connection delivery counters live on the connections. */
export interface HubStats {
  connectionsTotal: number;
  connectionsPeak: number;
  /** Messages published through this node. */
  published: number;
  /** Messages of subscribed channels dispatched on this node (before fan-out). */
  dispatched: number;
  /** Frames written by flushes (one per channel per tick per subscriber group). */
  batches: number;
  /** Message lines delivered by connections that have closed (live ones count on the connection). */
  closedDelivered: number;
  closedBytesOut: number;
  closedCommandsIn: number;
  /** Connections closed because they did not read fast enough (4008). */
  slowConsumers: number;
  /**
   * Message lines not delivered to a connection, by reason: `drop-oldest` (dropped from a backed-up connection's
   * queue), `coalesce-latest` (replaced by a newer state with the same key while backed up), `shed` (a `drop-oldest`
   * channel not delivered at all while shedding under memory pressure; counted per subscriber).
   */
  drops: Record<DropReason, number>;
  /** Times a connection backed up on a `drop-oldest` or `coalesce-latest` channel (a backlog was opened for it). */
  backlogs: number;
  /** Connections closed with 4503 to free memory ({@link Hub.disconnectHeaviest}). */
  overloadDisconnects: number;
  /** Connections refused while the Hub refused new connections ({@link Hub.refuseConnections}). */
  refusedConnections: number;
  /** Subscribes with `since`: recovered, or told they missed messages. */
  recovered: number;
  notRecovered: number;
  /** Resync notices (history lost) sent for channels. */
  resyncs: number;
  /** Errors sent to clients, by code. */
  errors: Record<string, number>;
  /** Commands refused by the rate limiter. */
  rateLimited: number;
  /** Failed `auth` commands. */
  authFailures: number;
  /** `refresh` frames sent (identities about to expire). */
  refreshesRequested: number;
  /** Connections closed with 4001 because their identity expired without a refresh. */
  authExpired: number;
  /** When this node last published a message (epoch ms; 0 before the first). */
  lastPublishAt: number;
  /** When a connection last closed (epoch ms; 0 before the first). */
  lastDisconnectAt: number;
  /** What connections that have closed delivered and received, by transport (live ones count on the connection). */
  closedByTransport: Record<string, TransportTotals>;
}

/** Per-transport totals of closed connections (see {@link HubStats.closedByTransport}). */
export interface TransportTotals {
  delivered: number;
  bytesOut: number;
  commandsIn: number;
}

/** A client publish the broker accepted: the payload of the Hub's `clientPublish` event. */
export interface ClientPublish {
  /** The publishing connection (its `userId`, `id`, `ip`). */
  readonly conn: Connection;
  readonly channel: ChannelName;
  readonly event: string;
  /** The data as decoded from the client's command, already published as is; treat it as read-only. */
  readonly data: unknown;
  readonly id: MessageId;
  readonly epoch: string;
  readonly offset: number;
}

/** Events of the Hub. */
export interface HubEvents {
  connection: [conn: Connection];
  /**
   * A connection is gone. `code` and `reason` are what the server closed it with when the server closed it (4008,
   * 4503, 1001…, even when the peer never answered and the socket was dropped), otherwise what the transport reported.
   */
  disconnect: [conn: Connection, code: number, reason: string];
  authenticated: [conn: Connection, identity: Identity];
  subscribe: [conn: Connection, channel: ChannelName];
  unsubscribe: [conn: Connection, channel: ChannelName];
  /** An error sent to a client for one of its commands. */
  commandError: [conn: Connection, error: UnisocketError];
  slowConsumer: [conn: Connection];
  presence: [channel: ChannelName, action: 'join' | 'leave', member: PresenceMember];
  /**
   * A client's publish was authorized and accepted by the broker (after its ack was sent). Emitted once per client
   * publish, never for server-side {@link Hub.publish} calls nor for a repeated idempotency key — a hook to forward
   * client messages to a backend (e.g. the Kafka bridge). It costs nothing when no listener is attached.
   */
  clientPublish: [publish: ClientPublish];
  /** An unexpected failure the Hub survived (a broker or presence store error). */
  error: [error: Error];
}

const NO_REF = undefined;

/** Commands that may wait behind an `auth` in progress (the rate limiter bounds them too). */
const MAX_HELD_COMMANDS = 1_000;

/** Commands an expired identity may still send while it waits out its refresh grace. */
const EXPIRED_ALLOWED: Readonly<Record<ClientCommand['type'], boolean>> = {
  auth: true,
  unsubscribe: true,
  ping: true,
  pong: true,
  subscribe: false,
  publish: false,
  presence: false,
};

/**
 * The local registry of channels and connections, and the publish path.
 *
 * Transports hand it connections and inbound frames; it decodes and checks commands, keeps subscriptions,
 * publishes through the {@link Broker}, and delivers what the broker dispatches: serialized once per publish,
 * coalesced per channel per tick into one batch, written to every local subscriber. Subscriptions with `since`
 * replay history first and switch to live without a gap or a duplicate at the seam.
 */
export class Hub extends EventEmitter<HubEvents> {
  readonly nodeId: string;
  readonly broker: Broker;
  readonly heartbeatMs: number;
  readonly batch: Readonly<BatchOptions>;
  readonly presenceOptions: Readonly<PresenceOptions>;
  readonly sessionOptions: Readonly<SessionOptions>;
  readonly stats: HubStats = {
    connectionsTotal: 0,
    connectionsPeak: 0,
    published: 0,
    dispatched: 0,
    batches: 0,
    closedDelivered: 0,
    closedBytesOut: 0,
    closedCommandsIn: 0,
    slowConsumers: 0,
    drops: { 'drop-oldest': 0, 'coalesce-latest': 0, shed: 0 },
    backlogs: 0,
    overloadDisconnects: 0,
    refusedConnections: 0,
    recovered: 0,
    notRecovered: 0,
    resyncs: 0,
    errors: {},
    rateLimited: 0,
    authFailures: 0,
    refreshesRequested: 0,
    authExpired: 0,
    lastPublishAt: 0,
    lastDisconnectAt: 0,
    closedByTransport: {},
  };
  /** Publish→flush latency, one sample per flushed batch (read by monitoring). */
  readonly latency: LatencyRecorder;

  readonly #policy: HubPolicy;
  readonly #decodeLimits: DecodeLimits;
  readonly #ids: IdGenerator;
  readonly #all = new Set<Connection>();
  readonly #users = new Map<UserId, Set<Connection>>();
  readonly #channels = new Map<ChannelName, ChannelState>();
  readonly #broadcast: ChannelState;
  #dirty: ChannelState[] = [];
  #flushScheduled = false;
  /** Presence removals waiting out `leaveGraceMs`, by channel and connection. */
  readonly #pendingLeaves = new Map<string, { timer: NodeJS.Timeout; remove: () => void }>();
  #started = false;
  #closed = false;
  readonly #burst: number;
  #limits: Readonly<HubLimits>;
  /** `limits.maxBufferedBytes`, read once per delivery */
  #maxBuffered: number;
  readonly #backpressure: ResolvedBackpressure;
  #lowWater: number;
  /** Connections with a backlog; the drain check timer runs while it is not empty. */
  readonly #backlogged = new Set<Connection>();
  #drainTimer: NodeJS.Timeout | undefined;
  #shedding = false;
  #refusing: string | undefined;

  constructor(options: HubOptions = {}) {
    super();
    this.broker = options.broker ?? new MemoryBroker(options.nodeId === undefined ? {} : { nodeId: options.nodeId });
    this.nodeId = assertNodeId(options.nodeId ?? this.broker.nodeId ?? randomNodeId());
    this.heartbeatMs = positiveInteger('heartbeatMs', options.heartbeatMs ?? 25_000);
    this.#limits = resolveLimits(options.limits);
    this.#maxBuffered = this.#limits.maxBufferedBytes;
    this.#backpressure = resolveBackpressure(options.backpressure, this.#maxBuffered);
    this.#lowWater = this.#backpressure.lowWaterBytes ?? defaultLowWaterBytes(this.#maxBuffered);
    this.batch = resolveNumbers('batch', DEFAULT_BATCH_OPTIONS, options.batch, { maxMessages: 1, delayMs: 0 });
    this.presenceOptions = resolveNumbers('presence', DEFAULT_PRESENCE_OPTIONS, options.presence, {
      leaveGraceMs: 0,
      maxMembers: 1,
      maxChannelsPerConnection: 1,
    });
    this.sessionOptions = resolveNumbers('session', DEFAULT_SESSION_OPTIONS, options.session, {
      refreshLeadMs: 0,
      refreshGraceMs: 0,
    });
    this.#policy = options.policy ?? {};
    this.latency = new LatencyRecorder(options.latency);
    this.#decodeLimits = {
      maxPayloadBytes: this.limits.maxPayloadBytes,
      maxDepth: this.limits.maxDepth,
      maxCommandsPerFrame: 100,
    };
    this.#burst = this.limits.messagesPerSecond * 2;
    this.#ids = new IdGenerator(this.nodeId);
    this.#broadcast = new ChannelState(
      BROADCAST_CHANNEL,
      'broadcast',
      this.#backpressure.policyFor(BROADCAST_CHANNEL),
      this.#all,
    );
    const host: BrokerHost = {
      dispatch: (message) => this.#dispatch(message),
      dispatchVolatile: (channel, line) => this.#dispatchVolatile(channel, line),
      resync: (channel, position) => this.#resync(channel, position),
      activate: (channel, position) => this.#activate(channel, position),
    };
    this.broker.attach(host);
    this.broker.on('error', (error) => this.#emitError(error));
    // presence changes the backend decided (a dead node's members swept) reach clients like the Hub's own
    this.broker.on('presence', (channel, action, member) => this.#announce(channel, action, member));
  }

  /** Starts the broker and the `*` channel. Rejects with the broker's error when it cannot start. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    await this.broker.start();
    const position = await this.broker.subscribe(BROADCAST_CHANNEL);
    this.#activate(BROADCAST_CHANNEL, position);
  }

  /**
   * A channel starts at the broker's position. The broker calls this before it dispatches any message after that
   * position (the ones it held while the position was read included), so none of them meets an inactive channel.
   * A broker without the hook activates when `subscribe` resolves. Idempotent.
   */
  #activate(name: ChannelName, position: StreamPosition): void {
    const ch = name === BROADCAST_CHANNEL ? this.#broadcast : this.#channels.get(name);
    if (ch === undefined || ch.active) return;
    ch.epoch = position.epoch;
    ch.flushed = position.offset;
    ch.active = true;
    const waiters = ch.waiters;
    ch.waiters = undefined;
    if (waiters !== undefined) for (const w of waiters) w.ok();
  }

  /** `true` after {@link close}. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The per-connection limits in force (see {@link setLimits}). */
  get limits(): Readonly<HubLimits> {
    return this.#limits;
  }

  /**
   * Changes limits at run time: memory pressure shrinks `maxRecoveryBuffer`, and restores it when the pressure
   * falls. A changed `maxBufferedBytes` applies from the next delivery (a defaulted low-water mark follows it).
   * @throws {TypeError} for a value below the limit's minimum, or a `maxBufferedBytes` not above an explicit
   *   `backpressure.lowWaterBytes`
   */
  setLimits(limits: Partial<Pick<HubLimits, 'maxBufferedBytes' | 'maxRecoveryBuffer'>>): void {
    const next = resolveNumbers(
      'limits',
      { maxBufferedBytes: this.#limits.maxBufferedBytes, maxRecoveryBuffer: this.#limits.maxRecoveryBuffer },
      limits,
      { maxBufferedBytes: 1024, maxRecoveryBuffer: 1 },
    );
    const explicitLow = this.#backpressure.lowWaterBytes;
    if (explicitLow !== undefined && next.maxBufferedBytes <= explicitLow) {
      throw new TypeError(
        `limits.maxBufferedBytes must stay above backpressure.lowWaterBytes (${explicitLow}), got ${next.maxBufferedBytes}`,
      );
    }
    this.#limits = { ...this.#limits, ...next };
    this.#maxBuffered = next.maxBufferedBytes;
    this.#lowWater = explicitLow ?? defaultLowWaterBytes(next.maxBufferedBytes);
  }

  /**
   * While `true`, `drop-oldest` channels (volatile traffic) are not delivered at all; every line not delivered is
   * counted in `stats.drops.shed`. Memory pressure (critical) turns it on and off.
   */
  get shedding(): boolean {
    return this.#shedding;
  }

  set shedding(on: boolean) {
    this.#shedding = on;
  }

  /**
   * Refuses new connections with `reason` (`UNAVAILABLE`, close code 4503, HTTP 503 at upgrade time), or accepts them
   * again with `undefined`. Memory pressure (critical) uses it.
   */
  refuseConnections(reason: string | undefined): void {
    this.#refusing = reason;
  }

  /** Why new connections are refused now, or `undefined` when they are accepted. */
  get refusing(): string | undefined {
    return this.#refusing;
  }

  /**
   * Closes the connections holding the most unread bytes ({@link Connection.bufferedBytes}), heaviest first, with
   * 4503, until the bytes held for the remaining connections are at most `maxTotalBytes`. Memory emergencies use it.
   * Connections already closing are not counted.
   * @returns the number of connections closed
   */
  disconnectHeaviest(maxTotalBytes: number, reason = 'server overloaded: memory emergency'): number {
    const held: { conn: Connection; bytes: number }[] = [];
    let total = 0;
    for (const conn of this.#all) {
      if (conn.closed) continue;
      const bytes = conn.bufferedBytes;
      if (bytes === 0) continue;
      held.push({ conn, bytes });
      total += bytes;
    }
    if (total <= maxTotalBytes) return 0;
    held.sort((a, b) => b.bytes - a.bytes);
    let closed = 0;
    for (const { conn, bytes } of held) {
      if (total <= maxTotalBytes) break;
      this.stats.overloadDisconnects++;
      this.disconnect(conn, CloseCode.OVERLOADED, reason);
      this.#dropBacklog(conn);
      total -= bytes;
      closed++;
    }
    return closed;
  }

  /** Connections backed up now on `drop-oldest` / `coalesce-latest` channels, and the bytes their backlogs hold. */
  backlogStats(): { connections: number; bytes: number } {
    let bytes = 0;
    for (const conn of this.#backlogged) bytes += conn.backlog?.bytes ?? 0;
    return { connections: this.#backlogged.size, bytes };
  }

  // ------------------------------------------------------------------------------------------------
  // connections
  // ------------------------------------------------------------------------------------------------

  /**
   * Registers a client accepted by a transport and sends it the `welcome` frame.
   * @throws {UnisocketError} `UNAVAILABLE` when the Hub is closed, or refuses connections (close code 4503)
   */
  addConnection(init: ConnectionInit): Connection {
    if (this.#closed) throw new UnisocketError(ErrorCode.UNAVAILABLE, 'the server is shutting down');
    if (this.#refusing !== undefined) {
      this.stats.refusedConnections++;
      throw new UnisocketError(ErrorCode.UNAVAILABLE, this.#refusing, {
        closeCode: CloseCode.OVERLOADED,
        httpStatus: 503,
      });
    }
    const conn = new Connection(this.#ids.next(), init.socket, init.transport, init.ip, this.#burst);
    this.#all.add(conn);
    this.stats.connectionsTotal++;
    if (this.#all.size > this.stats.connectionsPeak) this.stats.connectionsPeak = this.#all.size;
    if (init.identity !== undefined) this.#setIdentity(conn, init.identity);
    conn.send({
      type: 'welcome',
      connectionId: conn.id,
      protocol: PROTOCOL_VERSION,
      heartbeatMs: this.heartbeatMs,
      userId: conn.userId,
      nodeId: this.nodeId,
    });
    this.emit('connection', conn);
    return conn;
  }

  /** Forgets a connection whose socket closed: its subscriptions end and presence leaves (after the grace). */
  removeConnection(conn: Connection, code: number = CloseCode.NORMAL, reason = ''): void {
    if (!this.#all.delete(conn)) return;
    if (conn.closedWith !== undefined) ({ code, reason } = conn.closedWith);
    conn.closed = true;
    if (conn.authTimer !== undefined) clearTimeout(conn.authTimer);
    if (conn.subs !== undefined) for (const sub of [...conn.subs.values()]) this.#detach(sub);
    this.#dropBacklog(conn);
    if (conn.userId !== null) {
      const set = this.#users.get(conn.userId);
      set?.delete(conn);
      if (set?.size === 0) this.#users.delete(conn.userId);
    }
    this.stats.closedDelivered += conn.delivered;
    this.stats.closedBytesOut += conn.bytesOut;
    this.stats.closedCommandsIn += conn.commandsIn;
    this.stats.lastDisconnectAt = Date.now();
    const totals = (this.stats.closedByTransport[conn.transport] ??= { delivered: 0, bytesOut: 0, commandsIn: 0 });
    totals.delivered += conn.delivered;
    totals.bytesOut += conn.bytesOut;
    totals.commandsIn += conn.commandsIn;
    this.emit('disconnect', conn, code, reason);
  }

  /** Closes a connection (it is removed when its transport reports the close). */
  disconnect(conn: Connection, code: number, reason: string): void {
    if (conn.closed) return;
    conn.closed = true;
    conn.closedWith = { code, reason };
    conn.socket.close(code, reason);
  }

  /** A connection by id (a scan: for diagnostics and tools, not for hot paths). */
  getConnection(id: ConnectionId): Connection | undefined {
    for (const conn of this.#all) if (conn.id === id) return conn;
    return undefined;
  }

  /** Every connection on this node. */
  connections(): IterableIterator<Connection> {
    return this.#all.values();
  }

  /** The number of connections on this node. */
  get connectionCount(): number {
    return this.#all.size;
  }

  /** The connections of a user on this node. */
  userConnections(userId: UserId): Connection[] {
    const set = this.#users.get(userId);
    return set === undefined ? [] : [...set];
  }

  /** The users with at least one connection on this node. */
  connectedUsers(): UserId[] {
    return [...this.#users.keys()];
  }

  /** The number of users with at least one connection on this node. */
  get userCount(): number {
    return this.#users.size;
  }

  /** The number of subscriptions on this node (every connection's channels, `*` aside). */
  get subscriptionCount(): number {
    let n = 0;
    for (const ch of this.#channels.values()) n += ch.refs;
    return n;
  }

  /** Channels with local subscribers, and how many each has. */
  channelSubscriberCounts(): Map<ChannelName, number> {
    const counts = new Map<ChannelName, number>();
    for (const [name, ch] of this.#channels) counts.set(name, ch.refs);
    return counts;
  }

  /** The local subscribers of a channel (live and recovering). */
  channelSubscribers(channel: ChannelName): Connection[] {
    const ch = this.#channels.get(channel);
    if (ch === undefined) return [];
    const out = [...ch.live];
    if (ch.syncing !== undefined) for (const sub of ch.syncing) out.push(sub.conn);
    return out;
  }

  /** The number of channels with local subscribers. */
  get channelCount(): number {
    return this.#channels.size;
  }

  // ------------------------------------------------------------------------------------------------
  // inbound
  // ------------------------------------------------------------------------------------------------

  /** Handles one inbound text frame (one command, or several separated by `\n`). */
  handleText(conn: Connection, text: string): void {
    if (conn.closed) return;
    const results = decodeFrame(text, this.#decodeLimits);
    for (const result of results) {
      if (conn.closed) return;
      if (result instanceof UnisocketError) {
        this.handleInvalid(conn, result);
      } else {
        this.handleCommand(conn, result);
      }
    }
  }

  /**
   * Handles one decoded command. The reply (`ack` or `error`) goes to `reply` when given (the Socket.IO
   * acknowledgement callback), otherwise to the connection. Commands run in order: while an `auth` is being
   * verified, the commands after it wait for it (so `auth` then `subscribe` pipelined sees the identity).
   */
  handleCommand(conn: Connection, cmd: ClientCommand, reply?: (frame: ServerFrame) => void): void {
    if (conn.closed) return;
    conn.commandsIn++;
    if (cmd.type === 'pong') return;
    if (!this.#takeToken(conn, cmd.ref, reply)) return;
    if (conn.held !== undefined) {
      if (conn.held.length >= MAX_HELD_COMMANDS) {
        this.#fail(
          conn,
          new UnisocketError(
            ErrorCode.LIMIT_EXCEEDED,
            `at most ${MAX_HELD_COMMANDS} commands may wait for an auth in progress; wait for its reply`,
            refOpt(cmd.ref),
          ),
          reply,
        );
        return;
      }
      conn.held.push([cmd, reply]);
      return;
    }
    this.#run(conn, cmd, reply);
  }

  #run(conn: Connection, cmd: ClientCommand, reply: ((frame: ServerFrame) => void) | undefined): void {
    // an expired identity may only refresh, leave channels and ping until it is refreshed or closed
    if (conn.authExpiresAt !== undefined && !EXPIRED_ALLOWED[cmd.type] && conn.authExpiresAt <= Date.now()) {
      this.#fail(
        conn,
        new UnisocketError(
          ErrorCode.UNAUTHORIZED,
          `your token expired at ${new Date(conn.authExpiresAt).toISOString()}: send "auth" with a fresh token`,
          refOpt(cmd.ref),
        ),
        reply,
      );
      return;
    }
    switch (cmd.type) {
      case 'subscribe':
        this.#subscribe(conn, cmd, reply);
        return;
      case 'unsubscribe':
        this.#unsubscribe(conn, cmd, reply);
        return;
      case 'publish':
        this.#publishCommand(conn, cmd, reply);
        return;
      case 'auth':
        this.#auth(conn, cmd, reply);
        return;
      case 'presence':
        this.#presenceCommand(conn, cmd, reply);
        return;
      case 'ping':
        this.#reply(conn, reply, cmd.ref === undefined ? { type: 'pong' } : { type: 'pong', ref: cmd.ref });
        return;
    }
  }

  /**
   * Handles a command that failed to decode (the transport validated it and got `error`): it counts as a command
   * and takes a rate-limit token like any other, then the error goes to `reply` when given, otherwise to the
   * connection (and the connection closes when the error carries a close code).
   */
  handleInvalid(conn: Connection, error: UnisocketError, reply?: (frame: ServerFrame) => void): void {
    if (conn.closed) return;
    conn.commandsIn++;
    if (!this.#takeToken(conn, error.ref, reply)) return;
    this.#fail(conn, error, reply);
  }

  /** Reports a failed command to the client (and closes it when the error carries a close code). */
  reportError(conn: Connection, error: unknown, reply?: (frame: ServerFrame) => void): void {
    this.#fail(conn, error, reply);
  }

  /**
   * Answers an inbound frame the transport could not accept (e.g. a binary frame) with `error`. It counts as a
   * command for the rate limiter, so a flood of bad frames is throttled and closed (4029) like any other.
   */
  rejectFrame(conn: Connection, error: UnisocketError): void {
    this.handleInvalid(conn, error);
  }

  #takeToken(conn: Connection, ref: Ref | undefined, reply?: (frame: ServerFrame) => void): boolean {
    const now = Date.now();
    const rate = this.limits.messagesPerSecond;
    if (conn.tokens < this.#burst) {
      conn.tokens = Math.min(this.#burst, conn.tokens + ((now - conn.refilledAt) * rate) / 1000);
    }
    conn.refilledAt = now;
    if (conn.tokens >= 1) {
      conn.tokens -= 1;
      conn.violations = 0;
      return true;
    }
    this.stats.rateLimited++;
    conn.violations++;
    const closing = conn.violations > rate;
    this.#fail(
      conn,
      new UnisocketError(
        ErrorCode.RATE_LIMITED,
        closing
          ? `rate limit exceeded repeatedly (${rate} commands/s); closing`
          : `rate limit exceeded: at most ${rate} commands per second (bursts of ${this.#burst}); slow down`,
        ref === undefined ? (closing ? { closeCode: CloseCode.RATE_LIMITED } : {}) : {
          ref,
          ...(closing ? { closeCode: CloseCode.RATE_LIMITED } : {}),
        },
      ),
      reply,
    );
    return false;
  }

  // ------------------------------------------------------------------------------------------------
  // subscribe / unsubscribe
  // ------------------------------------------------------------------------------------------------

  #subscribe(conn: Connection, cmd: SubscribeCommand, reply: ((frame: ServerFrame) => void) | undefined): void {
    const name = cmd.channel;
    const ref = cmd.ref;
    const existing = conn.subs?.get(name);
    if (existing !== undefined) {
      if (existing.state === 'live' && cmd.since === undefined) {
        const ch = existing.channel!;
        this.#reply(conn, reply, withRef({ type: 'ack', channel: name, epoch: ch.epoch, offset: ch.flushed }, ref));
        return;
      }
      if (existing.state !== 'live') {
        this.#fail(conn, badRequest(`a subscription to "${name}" is already in progress`, ref, name), reply);
        return;
      }
      // a live subscription asked to recover (e.g. the automatic user channel after a reconnect): start over
      this.#detach(existing, true);
    }
    if ((conn.subs?.size ?? 0) >= this.limits.maxSubscriptionsPerConnection) {
      this.#fail(
        conn,
        new UnisocketError(
          ErrorCode.LIMIT_EXCEEDED,
          `at most ${this.limits.maxSubscriptionsPerConnection} subscriptions per connection; unsubscribe first`,
          { ...refOpt(ref), channel: name },
        ),
        reply,
      );
      return;
    }
    const kind = channelKind(name);
    if (kind === 'presence' && this.#presenceCount(conn) >= this.presenceOptions.maxChannelsPerConnection) {
      this.#fail(
        conn,
        new UnisocketError(
          ErrorCode.LIMIT_EXCEEDED,
          `at most ${this.presenceOptions.maxChannelsPerConnection} presence channels per connection; leave one first`,
          { ...refOpt(ref), channel: name },
        ),
        reply,
      );
      return;
    }
    if (kind === 'user') {
      const owner = userIdOfChannel(name);
      if (conn.userId === null || conn.userId !== owner) {
        this.#fail(
          conn,
          conn.userId === null
            ? new UnisocketError(ErrorCode.UNAUTHORIZED, `"${name}" is a personal channel: authenticate first`, {
                ...refOpt(ref),
                channel: name,
              })
            : new UnisocketError(ErrorCode.FORBIDDEN, `"${name}" is the personal channel of another user`, {
                ...refOpt(ref),
                channel: name,
              }),
          reply,
        );
        return;
      }
    }
    const sub = new Subscription(conn, name);
    sub.owed = { ref, reply };
    if (conn.subs === undefined) conn.subs = new SubscriptionList(sub);
    else conn.subs.set(name, sub);
    if (kind === 'user') {
      this.#attach(sub, cmd.since, ref, reply, undefined);
      return;
    }
    settle(
      () => this.#authorize(conn, name, kind, cmd.token, cmd.channelData),
      (grant) => {
        if (sub.state === 'closed') return;
        if (grant === false) {
          this.#abort(sub, forbidden(name, kind, ref), reply);
          return;
        }
        let member: PresenceMember | undefined;
        if (kind === 'presence') {
          const granted = grant === true ? undefined : grant;
          if (granted?.userId !== undefined && conn.userId !== null && granted.userId !== conn.userId) {
            this.#abort(
              sub,
              new UnisocketError(
                ErrorCode.FORBIDDEN,
                `the authorization for "${name}" names user "${granted.userId}", but this connection is "${conn.userId}"`,
                { ...refOpt(ref), channel: name },
              ),
              reply,
            );
            return;
          }
          const userId = conn.userId ?? granted?.userId;
          if (userId === undefined) {
            this.#abort(
              sub,
              new UnisocketError(
                ErrorCode.UNAUTHORIZED,
                `presence channel "${name}" needs a user: authenticate first, or send a subscription token naming the member`,
                { ...refOpt(ref), channel: name },
              ),
              reply,
            );
            return;
          }
          const info = granted?.info ?? conn.info;
          member = info === undefined ? { userId } : { userId, info };
        }
        this.#attach(sub, cmd.since, ref, reply, member);
      },
      (error) => this.#abort(sub, withErrorContext(error, ref, name, ErrorCode.FORBIDDEN), reply),
    );
  }

  #authorize(
    conn: Connection,
    channel: ChannelName,
    kind: ChannelKind,
    token: string | undefined,
    channelData: string | undefined,
  ): MaybePromise<boolean | SubscribeGrant> {
    const hook = this.#policy.authorizeSubscribe;
    if (hook !== undefined) return hook(conn, channel, { kind, token, channelData });
    return kind === 'public';
  }

  /** The presence subscriptions a connection holds (any state). Only counted when it subscribes to one more. */
  #presenceCount(conn: Connection): number {
    let n = 0;
    if (conn.subs !== undefined) for (const name of conn.subs.keys()) if (channelKind(name) === 'presence') n++;
    return n;
  }

  /** Takes the channel (activating it at the broker if needed), adds presence, then acks and streams. */
  #attach(
    sub: Subscription,
    since: StreamPosition | undefined,
    ref: Ref | undefined,
    reply: ((frame: ServerFrame) => void) | undefined | null,
    member: PresenceMember | undefined,
  ): void {
    const ch = this.#acquire(sub.name);
    sub.channel = ch;
    const proceed = (): void => {
      if (sub.state === 'closed') return;
      if (member === undefined) {
        this.#start(sub, since, ref, reply, undefined);
        return;
      }
      this.#presenceJoin(sub, member, ref, reply, (members) => this.#start(sub, since, ref, reply, members));
    };
    if (ch.active) {
      proceed();
      return;
    }
    (ch.waiters ??= []).push({
      ok: proceed,
      fail: (error) =>
        this.#abort(
          sub,
          withErrorContext(error, ref, sub.name, ErrorCode.UNAVAILABLE, `cannot subscribe to "${sub.name}" now`),
          reply ?? undefined,
        ),
    });
  }

  /** Acks a subscription and streams: live at once, or history first then live (recovery). */
  #start(
    sub: Subscription,
    since: StreamPosition | undefined,
    ref: Ref | undefined,
    reply: ((frame: ServerFrame) => void) | undefined | null,
    members: PresenceMember[] | undefined,
  ): void {
    const ch = sub.channel!;
    const conn = sub.conn;
    const ack: AckFrame = withRef({ type: 'ack', channel: sub.name, epoch: ch.epoch, offset: ch.flushed }, ref);
    if (members !== undefined) ack.members = members;
    if (since === undefined) {
      sub.owed = undefined;
      if (reply !== null) this.#reply(conn, reply, ack);
      this.#goLive(sub);
      return;
    }
    if (since.epoch === ch.epoch && since.offset === ch.flushed) {
      sub.owed = undefined;
      ack.recovered = true;
      this.stats.recovered++;
      if (reply !== null) this.#reply(conn, reply, ack);
      this.#goLive(sub);
      return;
    }
    // replay history while live messages collect in the subscription's buffer
    sub.state = 'syncing';
    sub.buffer = [];
    sub.lastSent = since.offset;
    (ch.syncing ??= new Set()).add(sub);
    settle(
      () => this.broker.history.read(sub.name, since),
      (read) => {
        if (sub.state === 'closed') return;
        sub.owed = undefined;
        if (!read.complete || read.position.epoch !== ch.epoch || read.position.epoch !== since.epoch) {
          this.stats.notRecovered++;
          ch.syncing?.delete(sub);
          sub.buffer = undefined;
          ack.recovered = false;
          ack.epoch = ch.epoch;
          ack.offset = ch.flushed;
          if (reply !== null) this.#reply(conn, reply, ack);
          this.#goLive(sub);
          return;
        }
        this.stats.recovered++;
        ack.recovered = true;
        ack.epoch = ch.epoch;
        ack.offset = Math.max(read.position.offset, since.offset);
        if (reply !== null) this.#reply(conn, reply, ack);
        const messages = read.messages;
        if (messages.length > 0) {
          this.#writeLines(conn, sub.name, messages);
          sub.lastSent = messages[messages.length - 1]!.offset;
        }
        sub.replayed = true;
        this.#catchUp(sub);
      },
      (error) =>
        this.#abort(
          sub,
          withErrorContext(error, ref, sub.name, ErrorCode.UNAVAILABLE, `cannot read the history of "${sub.name}" now`),
          reply ?? undefined,
        ),
    );
  }

  /** Sends a syncing subscriber what it buffered past its position; promotes it to live once caught up. */
  #catchUp(sub: Subscription): void {
    const ch = sub.channel!;
    const buffer = sub.buffer!;
    if (buffer.length > 0) {
      const lines: Deliverable[] = [];
      for (const item of buffer) {
        if (item.offset < 0) lines.push(item);
        else if (item.offset > sub.lastSent) {
          lines.push(item);
          sub.lastSent = item.offset;
        }
      }
      sub.buffer = [];
      if (lines.length > 0) this.#writeLines(sub.conn, sub.name, lines);
    }
    // join the live set only when holding exactly what was flushed: the pending batch (offsets past `flushed`)
    // then reaches it once. A subscriber ahead of this node (history ran ahead of the broker feed, or it came
    // from another node) waits here until the channel catches up with it.
    if (sub.lastSent <= ch.flushed) {
      ch.syncing?.delete(sub);
      sub.buffer = undefined;
      this.#goLive(sub);
    }
  }

  #goLive(sub: Subscription): void {
    if (sub.state === 'closed') return;
    sub.state = 'live';
    sub.channel!.live.add(sub.conn);
    this.emit('subscribe', sub.conn, sub.name);
  }

  #unsubscribe(conn: Connection, cmd: UnsubscribeCommand, reply: ((frame: ServerFrame) => void) | undefined): void {
    const sub = conn.subs?.get(cmd.channel);
    if (sub !== undefined) {
      if (channelKind(cmd.channel) === 'user') {
        // the personal channel follows the identity: it cannot be left while authenticated
        this.#fail(
          conn,
          badRequest(`"${cmd.channel}" is your personal channel; it stays subscribed while you are authenticated`, cmd.ref, cmd.channel),
          reply,
        );
        return;
      }
      this.#detach(sub);
    }
    // idempotent: unsubscribing from a channel one is not subscribed to is acknowledged too
    this.#reply(conn, reply, withRef({ type: 'ack', channel: cmd.channel }, cmd.ref));
  }

  /** Ends a subscription in whatever state it is. */
  #detach(sub: Subscription, keepPresence = false): void {
    if (sub.state === 'closed') return;
    const wasLive = sub.state === 'live';
    sub.state = 'closed';
    const conn = sub.conn;
    if (conn.subs?.get(sub.name) === sub) conn.subs.delete(sub.name);
    const ch = sub.channel;
    if (ch !== undefined) {
      ch.live.delete(conn);
      ch.syncing?.delete(sub);
      sub.buffer = undefined;
      if (conn.backlog !== undefined) this.#purgeBacklog(conn, ch.name);
      this.#release(ch);
    }
    if (sub.member !== undefined && !keepPresence) this.#presenceLeave(sub.name, conn.id, sub.member);
    if (wasLive) this.emit('unsubscribe', conn, sub.name);
    const owed = sub.owed;
    if (owed !== undefined) {
      // every command gets a reply: a subscribe ended before its ack (an unsubscribe overtook it) is answered
      sub.owed = undefined;
      if (!conn.closed) {
        this.#fail(
          conn,
          badRequest(`the subscription to "${sub.name}" was cancelled by an unsubscribe before it completed`, owed.ref, sub.name),
          owed.reply,
        );
      }
    }
  }

  /** Ends a subscription that could not start and reports why. */
  #abort(sub: Subscription, error: UnisocketError, reply: ((frame: ServerFrame) => void) | undefined): void {
    if (sub.state === 'closed') return;
    sub.owed = undefined;
    this.#detach(sub);
    this.#fail(sub.conn, error, reply);
  }

  #acquire(name: ChannelName): ChannelState {
    let ch = this.#channels.get(name);
    if (ch !== undefined) {
      ch.refs++;
      return ch;
    }
    ch = new ChannelState(name, channelKind(name), this.#backpressure.policyFor(name));
    ch.refs = 1;
    this.#channels.set(name, ch);
    const state = ch;
    settle(
      () => this.broker.subscribe(name),
      (position) => {
        if (this.#channels.get(name) === state) this.#activate(name, position);
      },
      (error) => {
        if (this.#channels.get(name) !== state) return;
        this.#channels.delete(name);
        const waiters = state.waiters;
        state.waiters = undefined;
        if (waiters !== undefined) for (const w of waiters) w.fail(error);
      },
    );
    return ch;
  }

  #release(ch: ChannelState): void {
    if (--ch.refs > 0) return;
    if (this.#channels.get(ch.name) !== ch) return;
    this.#channels.delete(ch.name);
    ch.pending = [];
    ch.oldestTs = 0;
    this.broker.unsubscribe(ch.name);
  }

  // ------------------------------------------------------------------------------------------------
  // publish
  // ------------------------------------------------------------------------------------------------

  /**
   * Publishes a message on a channel (`*` reaches every connection). The message is serialized once here;
   * every node with subscribers delivers it.
   * @throws {UnisocketError} `BAD_REQUEST` for an invalid channel, event or non-JSON data;
   *   `UNAVAILABLE` when the broker cannot take it
   */
  publish(channel: ChannelName, event: string, data: unknown, options: PublishOptions = {}): MaybePromise<PublishAck> {
    if (channel !== BROADCAST_CHANNEL && !isValidChannelName(channel)) {
      throw badRequest(`invalid channel name ${JSON.stringify(String(channel)).slice(0, 60)}: use 1-200 characters of [A-Za-z0-9_.:=@-], or "*"`);
    }
    if (typeof event !== 'string' || event.length === 0 || event.length > MAX_EVENT_LENGTH) {
      throw badRequest(`event must be a non-empty string of at most ${MAX_EVENT_LENGTH} characters`);
    }
    let dataJson: string | undefined;
    try {
      dataJson = JSON.stringify(data === undefined ? null : data);
    } catch (error) {
      throw new UnisocketError(ErrorCode.BAD_REQUEST, `data is not JSON-serializable: ${(error as Error).message}`, {
        cause: error,
      });
    }
    if (dataJson === undefined) throw badRequest('data is not JSON-serializable (a function or a symbol)');
    const idempotent = options.id !== undefined;
    if (idempotent && (typeof options.id !== 'string' || !MESSAGE_ID_PATTERN.test(options.id))) {
      throw badRequest('a message id (idempotency key) must be 1-64 characters of [A-Za-z0-9_.:=@-]');
    }
    const id = options.id ?? this.#ids.next();
    const ts = Date.now();
    const result = this.broker.publish({ channel, id, head: messageHead(channel, event, dataJson, id, ts), ts, idempotent });
    this.stats.published++;
    this.stats.lastPublishAt = ts;
    if (isPromiseLike(result)) {
      return result.then((r) => toAck(id, channel, r.epoch, r.offset, r.duplicate));
    }
    return toAck(id, channel, result.epoch, result.offset, result.duplicate);
  }

  #publishCommand(conn: Connection, cmd: PublishCommand, reply: ((frame: ServerFrame) => void) | undefined): void {
    const { channel, event, ref } = cmd;
    const hook = this.#policy.authorizePublish;
    settle(
      () => (hook === undefined ? false : hook(conn, channel, event)),
      (allowed) => {
        if (conn.closed) return;
        if (!allowed) {
          this.#fail(
            conn,
            new UnisocketError(
              ErrorCode.FORBIDDEN,
              hook === undefined
                ? `clients may not publish on "${channel}": the server allows no client publishes (see the publish permissions option)`
                : `publishing "${event}" on "${channel}" is not allowed for this connection`,
              { ...refOpt(ref), channel },
            ),
            reply,
          );
          return;
        }
        settle(
          () => this.publish(channel, event, cmd.data, cmd.id === undefined ? {} : { id: cmd.id }),
          (ack) => {
            const frame: AckFrame = withRef({ type: 'ack', channel, id: ack.id, offset: ack.offset }, ref);
            if (ack.duplicate === true) frame.duplicate = true;
            this.#reply(conn, reply, frame);
            if (ack.duplicate !== true && this.listenerCount('clientPublish') > 0) {
              const published: ClientPublish = { conn, channel, event, data: cmd.data, id: ack.id, epoch: ack.epoch, offset: ack.offset };
              this.emit('clientPublish', published);
            }
          },
          (error) => this.#fail(conn, withErrorContext(error, ref, channel, ErrorCode.INTERNAL), reply),
        );
      },
      (error) => this.#fail(conn, withErrorContext(error, ref, channel, ErrorCode.FORBIDDEN), reply),
    );
  }

  // ------------------------------------------------------------------------------------------------
  // delivery
  // ------------------------------------------------------------------------------------------------

  #dispatch(message: StreamMessage): void {
    const ch = message.channel === BROADCAST_CHANNEL ? this.#broadcast : this.#channels.get(message.channel);
    if (ch === undefined || !ch.active) return;
    this.stats.dispatched++;
    if (ch.oldestTs === 0) ch.oldestTs = message.ts;
    this.#enqueue(ch, message);
  }

  #dispatchVolatile(channel: ChannelName, line: string): void {
    const ch = this.#channels.get(channel);
    if (ch === undefined || !ch.active) return;
    this.#enqueue(ch, { line, offset: -1 });
  }

  #enqueue(ch: ChannelState, item: Deliverable): void {
    ch.pending.push(item);
    if (ch.pending.length >= this.batch.maxMessages) {
      // a full batch goes out now: frames stay bounded and nothing piles up within a tick
      this.#flushChannel(ch);
      return;
    }
    if (!ch.dirty) {
      ch.dirty = true;
      this.#dirty.push(ch);
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        if (this.batch.delayMs > 0) setTimeout(this.#flushAll, this.batch.delayMs);
        else setImmediate(this.#flushAll);
      }
    }
  }

  readonly #flushAll = (): void => {
    this.#flushScheduled = false;
    const dirty = this.#dirty;
    this.#dirty = [];
    for (const ch of dirty) if (ch.dirty) this.#flushChannel(ch);
  };

  /** Writes a channel's pending messages as one batch to each live subscriber; feeds the syncing ones. */
  #flushChannel(ch: ChannelState): void {
    ch.dirty = false;
    const items = ch.pending;
    if (items.length === 0) return;
    ch.pending = [];
    const lines = new Array<string>(items.length);
    let last = ch.flushed;
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      lines[i] = item.line;
      if (item.offset > last) last = item.offset;
    }
    ch.flushed = last;
    const oldestTs = ch.oldestTs;
    ch.oldestTs = 0;
    if (ch.live.size > 0) {
      const batch = new PreparedBatch(ch.name, lines);
      this.stats.batches++;
      const policy = ch.policy;
      if (policy === null) for (const conn of ch.live) this.#deliver(conn, batch);
      else this.#deliverWithPolicy(ch, policy, batch);
      // one latency sample per batch: its oldest message, from publish to being handed to the sockets
      if (oldestTs !== 0) this.latency.record(Date.now() - oldestTs);
    }
    const syncing = ch.syncing;
    if (syncing !== undefined && syncing.size > 0) {
      for (const sub of syncing) {
        const buffer = sub.buffer!;
        for (const item of items) buffer.push(item);
        if (buffer.length > this.#limits.maxRecoveryBuffer) {
          this.#slowConsumer(sub.conn, 'fell too far behind while recovering');
          continue;
        }
        if (sub.replayed) this.#catchUp(sub);
      }
    }
  }

  #deliver(conn: Connection, batch: PreparedBatch): void {
    if (conn.closed) return;
    const socket = conn.socket;
    if (socket.bufferedBytes > this.#maxBuffered) {
      this.#slowConsumer(conn, 'outbound buffer over maxBufferedBytes');
      return;
    }
    socket.sendBatch(batch);
    conn.delivered += batch.count;
    conn.bytesOut += batch.byteLength;
  }

  /**
   * Delivery on `drop-oldest` / `coalesce-latest` channels: written at once while the socket is at or below the
   * low-water mark and nothing waits for it; otherwise held in the connection's backlog.
   */
  #deliverWithPolicy(ch: ChannelState, policy: ChannelPolicy, batch: PreparedBatch): void {
    if (this.#shedding && policy.kind === 'drop-oldest') {
      this.stats.drops.shed += batch.count * ch.live.size;
      return;
    }
    const low = this.#lowWater;
    for (const conn of ch.live) {
      if (conn.closed) continue;
      const socket = conn.socket;
      if (conn.backlog === undefined && socket.bufferedBytes <= low) {
        socket.sendBatch(batch);
        conn.delivered += batch.count;
        conn.bytesOut += batch.byteLength;
        continue;
      }
      this.#hold(conn, policy, batch);
    }
  }

  /** Puts a batch in a backed-up connection's backlog and keeps the backlog within `maxBufferedBytes`. */
  #hold(conn: Connection, policy: ChannelPolicy, batch: PreparedBatch): void {
    let backlog = conn.backlog;
    if (backlog === undefined) backlog = this.#openBacklog(conn);
    const drops = this.stats.drops;
    if (policy.kind === 'drop-oldest') backlog.push(batch);
    else drops['coalesce-latest'] += backlog.coalesce(batch, policy);
    const socket = conn.socket;
    const room = this.#maxBuffered - socket.bufferedBytes;
    while (backlog.bytes > room && backlog.queue.length > 0) {
      // the newest frame is kept whatever its size: it is what drop-oldest exists to deliver
      if (backlog.queue.length === 1 && backlog.latestBytes === 0) break;
      drops['drop-oldest'] += backlog.dropOldest();
    }
    if (backlog.latestBytes > 0 && backlog.bytes > room) {
      this.#slowConsumer(conn, 'the latest states of its coalesce-latest channels exceed maxBufferedBytes');
      this.#dropBacklog(conn);
      return;
    }
    if (socket.bufferedBytes <= this.#lowWater) this.#drain(conn);
  }

  #openBacklog(conn: Connection): Backlog {
    const backlog = new Backlog();
    conn.backlog = backlog;
    this.stats.backlogs++;
    this.#backlogged.add(conn);
    if (!conn.drainHooked) {
      conn.drainHooked = true;
      conn.socket.onDrain?.(() => this.#drain(conn));
    }
    if (this.#drainTimer === undefined) {
      this.#drainTimer = setInterval(this.#drainAll, this.#backpressure.drainCheckMs);
      this.#drainTimer.unref();
    }
    return backlog;
  }

  /** Writes what a backed-up connection holds while its socket stays at or below the low-water mark. */
  #drain(conn: Connection): void {
    const backlog = conn.backlog;
    if (backlog === undefined) return;
    if (conn.closed) {
      this.#dropBacklog(conn);
      return;
    }
    const socket = conn.socket;
    const low = this.#lowWater;
    while (socket.bufferedBytes <= low) {
      let batch = backlog.shift();
      if (batch === undefined) {
        const latest = backlog.takeLatest(this.batch.maxMessages);
        if (latest === undefined) break;
        batch = new PreparedBatch(latest.channel, latest.lines);
      }
      socket.sendBatch(batch);
      conn.delivered += batch.count;
      conn.bytesOut += batch.byteLength;
      if (conn.closed) break;
    }
    if (backlog.empty) this.#dropBacklog(conn);
  }

  readonly #drainAll = (): void => {
    for (const conn of this.#backlogged) this.#drain(conn);
  };

  #purgeBacklog(conn: Connection, channel: ChannelName): void {
    const backlog = conn.backlog;
    if (backlog === undefined) return;
    backlog.purge(channel);
    if (backlog.empty) this.#dropBacklog(conn);
  }

  #dropBacklog(conn: Connection): void {
    if (conn.backlog === undefined) return;
    conn.backlog = undefined;
    this.#backlogged.delete(conn);
    if (this.#backlogged.size === 0 && this.#drainTimer !== undefined) {
      clearInterval(this.#drainTimer);
      this.#drainTimer = undefined;
    }
  }

  /** Writes lines to one connection outside the channel flush (history replay, catch-up), in bounded frames. */
  #writeLines(conn: Connection, channel: ChannelName, items: readonly Deliverable[]): void {
    const max = this.batch.maxMessages;
    for (let start = 0; start < items.length && !conn.closed; start += max) {
      const end = Math.min(items.length, start + max);
      const lines = new Array<string>(end - start);
      for (let i = start; i < end; i++) lines[i - start] = items[i]!.line;
      const batch = new PreparedBatch(channel, lines);
      conn.socket.sendBatch(batch);
      conn.delivered += batch.count;
      conn.bytesOut += batch.byteLength;
    }
  }

  #slowConsumer(conn: Connection, reason: string): void {
    if (conn.closed) return;
    this.stats.slowConsumers++;
    this.emit('slowConsumer', conn);
    this.disconnect(conn, CloseCode.SLOW_CONSUMER, `slow consumer: ${reason}`);
  }

  #resync(channel: ChannelName, position: StreamPosition): void {
    const ch = channel === BROADCAST_CHANNEL ? this.#broadcast : this.#channels.get(channel);
    if (ch === undefined || !ch.active) return;
    if (ch.pending.length > 0) this.#flushChannel(ch);
    this.stats.resyncs++;
    ch.epoch = position.epoch;
    ch.flushed = position.offset;
    if (ch === this.#broadcast) return;
    const line = JSON.stringify({ type: 'resync', channel, epoch: position.epoch, offset: position.offset });
    const batch = new PreparedBatch(channel, [line]);
    for (const conn of ch.live) {
      // what a backed-up connection still holds of the channel belongs to the stream that ended
      if (conn.backlog !== undefined) this.#purgeBacklog(conn, channel);
      this.#deliver(conn, batch);
    }
    if (ch.syncing !== undefined) {
      for (const sub of [...ch.syncing]) {
        if (!sub.replayed) continue; // its history read will see the new epoch and answer recovered:false
        this.#deliver(sub.conn, batch);
        sub.buffer = [];
        sub.lastSent = position.offset;
        this.#catchUp(sub);
      }
    }
  }

  // ------------------------------------------------------------------------------------------------
  // auth
  // ------------------------------------------------------------------------------------------------

  #auth(conn: Connection, cmd: AuthCommand, reply: ((frame: ServerFrame) => void) | undefined): void {
    const hook = this.#policy.authenticate;
    if (hook === undefined) {
      this.#fail(
        conn,
        new UnisocketError(ErrorCode.UNAUTHORIZED, 'authentication is not configured on this server', refOpt(cmd.ref)),
        reply,
      );
      return;
    }
    conn.held = [];
    settle(
      () => hook(conn, cmd.token),
      (identity) => {
        if (conn.closed) return;
        if (conn.userId !== null && conn.userId !== identity.userId) {
          this.#fail(
            conn,
            new UnisocketError(
              ErrorCode.FORBIDDEN,
              `this connection is authenticated as "${conn.userId}"; open a new connection to change users`,
              refOpt(cmd.ref),
            ),
            reply,
          );
          this.#releaseHeld(conn);
          return;
        }
        this.#setIdentity(conn, identity);
        const ack: AckFrame = withRef({ type: 'ack', userId: identity.userId }, cmd.ref);
        if (identity.expiresAt !== undefined) ack.expiresAt = identity.expiresAt;
        this.#reply(conn, reply, ack);
        this.#releaseHeld(conn);
      },
      (error) => {
        this.stats.authFailures++;
        this.#fail(conn, withErrorContext(error, cmd.ref, undefined, ErrorCode.UNAUTHORIZED, 'invalid token'), reply);
        this.#releaseHeld(conn);
      },
    );
  }

  /** Runs the commands that waited for an auth, in order; an auth among them holds the rest again. */
  #releaseHeld(conn: Connection): void {
    const held = conn.held;
    conn.held = undefined;
    if (held === undefined) return;
    for (let i = 0; i < held.length; i++) {
      if (conn.closed) return;
      // #run may have started another auth (TypeScript cannot see through the call)
      const again = conn.held as typeof held | undefined;
      if (again !== undefined) {
        for (let j = i; j < held.length; j++) again.push(held[j]!);
        return;
      }
      const [cmd, reply] = held[i]!;
      this.#run(conn, cmd, reply);
    }
  }

  /** Sets (or refreshes) a connection's identity; the first time, subscribes it to its user channel. */
  #setIdentity(conn: Connection, identity: Identity): void {
    const first = conn.userId === null;
    conn.userId = identity.userId;
    if (identity.info !== undefined) conn.info = identity.info;
    this.#armSession(conn, identity.expiresAt);
    if (first) {
      let set = this.#users.get(identity.userId);
      if (set === undefined) this.#users.set(identity.userId, (set = new Set()));
      set.add(conn);
      const name = userChannel(identity.userId);
      if (isValidChannelName(name) && !conn.isSubscribed(name)) {
        const sub = new Subscription(conn, name);
        if (conn.subs === undefined) conn.subs = new SubscriptionList(sub);
        else conn.subs.set(name, sub);
        this.#attach(sub, undefined, NO_REF, null, undefined);
      }
    }
    this.emit('authenticated', conn, identity);
  }

  /**
   * (Re)arms the connection's one session timer for a new identity: it fires when the `refresh` frame is due,
   * then at `expiresAt + refreshGraceMs`. Never armed per message; cleared on close.
   */
  #armSession(conn: Connection, expiresAt: number | undefined): void {
    if (conn.authTimer !== undefined) {
      clearTimeout(conn.authTimer);
      conn.authTimer = undefined;
    }
    conn.refreshRequested = false;
    if (expiresAt === undefined || !Number.isFinite(expiresAt)) {
      conn.authExpiresAt = undefined;
      return;
    }
    conn.authExpiresAt = expiresAt;
    const now = Date.now();
    const remaining = expiresAt - now;
    conn.authRefreshAt = expiresAt - Math.min(this.sessionOptions.refreshLeadMs, Math.max(0, remaining / 2));
    // always through the timer, even when due now: the refresh frame must never precede `welcome`
    this.#scheduleSession(conn, conn.authRefreshAt - now);
  }

  #scheduleSession(conn: Connection, delayMs: number): void {
    conn.authTimer = setTimeout(this.#onSessionTimer, Math.min(MAX_TIMER_MS, Math.max(0, delayMs)), conn);
    conn.authTimer.unref();
  }

  readonly #onSessionTimer = (conn: Connection): void => {
    conn.authTimer = undefined;
    const expiresAt = conn.authExpiresAt;
    if (conn.closed || expiresAt === undefined) return;
    const now = Date.now();
    if (!conn.refreshRequested) {
      if (now < conn.authRefreshAt) {
        this.#scheduleSession(conn, conn.authRefreshAt - now); // a timer capped at MAX_TIMER_MS
        return;
      }
      conn.refreshRequested = true;
      this.stats.refreshesRequested++;
      conn.send({ type: 'refresh', expiresAt, graceMs: this.sessionOptions.refreshGraceMs });
    }
    const closeAt = expiresAt + this.sessionOptions.refreshGraceMs;
    if (now < closeAt) {
      this.#scheduleSession(conn, closeAt - now);
      return;
    }
    this.stats.authExpired++;
    this.#fail(
      conn,
      new UnisocketError(
        ErrorCode.UNAUTHORIZED,
        'token expired and was not refreshed in time: reconnect with a fresh token',
        { closeCode: CloseCode.UNAUTHORIZED },
      ),
      undefined,
    );
  };

  // ------------------------------------------------------------------------------------------------
  // presence
  // ------------------------------------------------------------------------------------------------

  #presenceJoin(
    sub: Subscription,
    member: PresenceMember,
    ref: Ref | undefined,
    reply: ((frame: ServerFrame) => void) | undefined | null,
    then: (members: PresenceMember[]) => void,
  ): void {
    const store = this.broker.presence;
    const fail = (error: unknown): void =>
      this.#abort(
        sub,
        withErrorContext(error, ref, sub.name, ErrorCode.UNAVAILABLE, `presence for "${sub.name}" is unavailable now`),
        reply ?? undefined,
      );
    settle(
      () => store.count(sub.name),
      (count) => {
        if (sub.state === 'closed') return;
        if (count >= this.presenceOptions.maxMembers) {
          // a user already present may open more connections
          settle(
            () => store.members(sub.name),
            (members) => {
              if (members.some((m) => m.userId === member.userId)) this.#presenceAdd(sub, member, then, fail);
              else
                this.#abort(
                  sub,
                  new UnisocketError(
                    ErrorCode.LIMIT_EXCEEDED,
                    `presence channel "${sub.name}" is full (${this.presenceOptions.maxMembers} members)`,
                    { ...refOpt(ref), channel: sub.name },
                  ),
                  reply ?? undefined,
                );
            },
            fail,
          );
          return;
        }
        this.#presenceAdd(sub, member, then, fail);
      },
      fail,
    );
  }

  #presenceAdd(
    sub: Subscription,
    member: PresenceMember,
    then: (members: PresenceMember[]) => void,
    fail: (error: unknown) => void,
  ): void {
    const store = this.broker.presence;
    // the same connection left this channel within the grace and is back: its membership never ended
    const pending = this.#pendingLeaves.get(leaveKey(sub.name, sub.conn.id));
    if (pending !== undefined) {
      clearTimeout(pending.timer);
      this.#pendingLeaves.delete(leaveKey(sub.name, sub.conn.id));
    }
    settle(
      () => store.add(sub.name, sub.conn.id, member),
      (result) => {
        sub.member = member;
        if (sub.state === 'closed') {
          // unsubscribed while joining: undo
          this.#presenceLeave(sub.name, sub.conn.id, member);
          return;
        }
        if (result.joined) this.#announce(sub.name, 'join', member);
        settle(() => store.members(sub.name), then, fail);
      },
      fail,
    );
  }

  #presenceLeave(channel: ChannelName, connectionId: ConnectionId, member: PresenceMember): void {
    const remove = (): void =>
      settle(
        () => this.broker.presence.remove(channel, connectionId, member.userId),
        (result) => {
          if (result.left) this.#announce(channel, 'leave', result.member ?? member);
        },
        (error) => this.#emitError(error),
      );
    const grace = this.presenceOptions.leaveGraceMs;
    if (grace === 0 || this.#closed) {
      remove();
      return;
    }
    const key = leaveKey(channel, connectionId);
    const previous = this.#pendingLeaves.get(key);
    if (previous !== undefined) clearTimeout(previous.timer);
    const timer = setTimeout(() => {
      this.#pendingLeaves.delete(key);
      remove();
    }, grace);
    timer.unref();
    this.#pendingLeaves.set(key, { timer, remove });
  }

  #announce(channel: ChannelName, action: 'join' | 'leave', member: PresenceMember): void {
    this.broker.publishVolatile(channel, JSON.stringify({ type: 'presence', channel, action, member }));
    this.emit('presence', channel, action, member);
  }

  #presenceCommand(conn: Connection, cmd: PresenceCommand, reply: ((frame: ServerFrame) => void) | undefined): void {
    const { channel, ref } = cmd;
    if (channelKind(channel) !== 'presence') {
      this.#fail(conn, badRequest(`"${channel}" is not a presence channel (presence channels start with "presence-")`, ref, channel), reply);
      return;
    }
    if (conn.subs?.get(channel)?.state !== 'live') {
      this.#fail(
        conn,
        new UnisocketError(ErrorCode.FORBIDDEN, `subscribe to "${channel}" before asking for its members`, {
          ...refOpt(ref),
          channel,
        }),
        reply,
      );
      return;
    }
    settle(
      () => this.broker.presence.members(channel),
      (members) => this.#reply(conn, reply, withRef({ type: 'ack', channel, members }, ref)),
      (error) => this.#fail(conn, withErrorContext(error, ref, channel, ErrorCode.UNAVAILABLE), reply),
    );
  }

  /** The members of a presence channel (cluster-wide when the broker's presence is). */
  presenceMembers(channel: ChannelName): MaybePromise<PresenceMember[]> {
    return this.broker.presence.members(channel);
  }

  // ------------------------------------------------------------------------------------------------
  // replies and errors
  // ------------------------------------------------------------------------------------------------

  #reply(conn: Connection, reply: ((frame: ServerFrame) => void) | undefined, frame: ServerFrame): void {
    if (conn.closed) return;
    // replies are bounded like messages: a client that sends but never reads cannot grow its buffer
    if (conn.socket.bufferedBytes > this.limits.maxBufferedBytes) {
      this.#slowConsumer(conn, 'outbound buffer over maxBufferedBytes');
      return;
    }
    if (reply !== undefined) reply(frame);
    else conn.socket.sendFrame(frame);
  }

  #fail(conn: Connection, error: unknown, reply: ((frame: ServerFrame) => void) | undefined): void {
    const err = isUnisocketError(error)
      ? error
      : new UnisocketError(ErrorCode.INTERNAL, 'internal error', { cause: error });
    if (!isUnisocketError(error)) this.#emitError(error);
    this.stats.errors[err.code] = (this.stats.errors[err.code] ?? 0) + 1;
    this.emit('commandError', conn, err);
    this.#reply(conn, reply, err.toFrame());
    if (err.closeCode !== undefined) this.disconnect(conn, err.closeCode, err.message.slice(0, 120));
  }

  #emitError(error: unknown): void {
    const err = error instanceof Error ? error : new Error(String(error));
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  // ------------------------------------------------------------------------------------------------
  // shutdown
  // ------------------------------------------------------------------------------------------------

  /**
   * Flushes pending batches and closes every connection (default 1001: reconnect elsewhere). Presence leaves,
   * also those waiting out `leaveGraceMs`, are applied at once. Does not close the broker (its owner does). Idempotent.
   */
  close(code: number = CloseCode.GOING_AWAY, reason = 'server shutting down'): void {
    if (this.#closed) return;
    this.#flushAll();
    this.#closed = true;
    for (const conn of [...this.#all]) {
      this.disconnect(conn, code, reason);
      this.removeConnection(conn, code, reason);
    }
    // leaves still waiting out their grace happen now: a shared presence store must not keep them
    const pending = [...this.#pendingLeaves.values()];
    this.#pendingLeaves.clear();
    for (const { timer, remove } of pending) {
      clearTimeout(timer);
      remove();
    }
    if (this.#drainTimer !== undefined) clearInterval(this.#drainTimer);
    this.#drainTimer = undefined;
  }
}

// ------------------------------------------------------------------------------------------------
// helpers
// ------------------------------------------------------------------------------------------------

function leaveKey(channel: ChannelName, connectionId: ConnectionId): string {
  return `${connectionId} ${channel}`;
}

function toAck(id: MessageId, channel: ChannelName, epoch: string, offset: number, duplicate: boolean | undefined): PublishAck {
  const ack: PublishAck = { id, channel, epoch, offset };
  if (duplicate === true) ack.duplicate = true;
  return ack;
}

function withRef<T extends AckFrame>(frame: T, ref: Ref | undefined): T {
  if (ref !== undefined) frame.ref = ref;
  return frame;
}

function refOpt(ref: Ref | undefined): { ref?: Ref } {
  return ref === undefined ? {} : { ref };
}

function badRequest(message: string, ref?: Ref, channel?: ChannelName): UnisocketError {
  return new UnisocketError(ErrorCode.BAD_REQUEST, message, {
    ...refOpt(ref),
    ...(channel === undefined ? {} : { channel }),
  });
}

function forbidden(channel: ChannelName, kind: ChannelKind, ref: Ref | undefined): UnisocketError {
  const why =
    kind === 'public'
      ? `subscribing to "${channel}" is not allowed`
      : `"${channel}" is a ${kind} channel: it needs authorization (configure auth.authorizeChannel, or send a subscription token)`;
  return new UnisocketError(ErrorCode.FORBIDDEN, why, { ...refOpt(ref), channel });
}

/** Gives an error the command's ref and channel; non-unisocket errors become `fallback` with `fallbackMessage`. */
function withErrorContext(
  error: unknown,
  ref: Ref | undefined,
  channel: ChannelName | undefined,
  fallback: ErrorCode,
  fallbackMessage?: string,
): UnisocketError {
  const options = { ...refOpt(ref), ...(channel === undefined ? {} : { channel }) };
  if (isUnisocketError(error)) {
    if (error.ref === ref && error.channel === channel) return error;
    return new UnisocketError(error.code, error.message, {
      ...options,
      cause: error.cause,
      ...(error.closeCode === undefined ? {} : { closeCode: error.closeCode }),
    });
  }
  const message = fallbackMessage ?? (error instanceof Error ? error.message : String(error));
  return new UnisocketError(fallback, message, { ...options, cause: error });
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) {
    throw new TypeError(`${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

function resolveLimits(limits: Partial<HubLimits> | undefined): HubLimits {
  const resolved = resolveNumbers('limits', DEFAULT_HUB_LIMITS, limits, {
    maxPayloadBytes: 64,
    maxDepth: 1,
    maxBufferedBytes: 1024,
    messagesPerSecond: 1,
    maxSubscriptionsPerConnection: 1,
    maxRecoveryBuffer: 1,
  });
  return resolved;
}

/** Merges numeric options over defaults, throwing a `TypeError` naming the option for a bad value. */
export function resolveNumbers<T extends object>(
  group: string,
  defaults: Readonly<T>,
  given: Partial<T> | undefined,
  minimums: { [K in keyof T]: number },
): T {
  const out = { ...defaults } as T;
  if (given === undefined) return out;
  if (typeof given !== 'object' || given === null) throw new TypeError(`${group} must be an object`);
  for (const key of Object.keys(given) as (keyof T & string)[]) {
    if (!(key in defaults)) {
      throw new TypeError(`unknown option ${group}.${key}; known options: ${Object.keys(defaults).join(', ')}`);
    }
    const value = given[key];
    if (value === undefined) continue;
    const min = minimums[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
      throw new TypeError(`${group}.${key} must be an integer >= ${min}, got ${String(value)}`);
    }
    out[key] = value as T[keyof T & string];
  }
  return out;
}
