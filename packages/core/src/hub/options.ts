import type { BackpressureOptions } from '../backpressure';
import type { Broker } from '../broker';
import type { Connection, Identity } from '../connection';
import type { LatencyRecorderOptions } from '../latency';
import type { ChannelKind } from '../protocol/channel';
import type { ChannelName, ConnectionId, MessageId, UserId } from '../protocol/types';
import type { MaybePromise } from '../util';
import type { RecoveryOptions } from './recovery-budget';

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
  /**
   * Guards reserved channels (e.g. the service's operational `sys.*` channels). Asked first for every subscription
   * but those to personal channels — before the socket's own authorization (a Pusher socket's signature check) and
   * before {@link authorizeSubscribe} — so no transport bypasses it. Return `undefined` when the channel is not
   * reserved (the subscription is decided as before), `true` to allow it, `false` to refuse it with `FORBIDDEN`
   * ("reserved"). A promise resolving to `undefined` counts as not reserved too. Keep it cheap: it runs on every
   * subscribe. May be given as `undefined` (no reserved channels).
   */
  authorizeReserved?: ((conn: Connection, channel: ChannelName) => MaybePromise<boolean> | undefined) | undefined;
}

/**
 * Cluster-wide channel occupancy: the Hub's `occupancy` event says when a channel got its first subscriber on any
 * node (`occupied`) and lost its last one on every node (`vacated`), on exactly one node per change. It is kept in
 * the broker's presence store (cluster-wide on Redis, with the leases that sweep a dead node's channels; per node on
 * Kafka and on a private MemoryBroker). Off by default; while off it costs nothing.
 */
export interface OccupancyOptions {
  /**
   * Track occupancy from the start ({@link Hub.trackOccupancy} turns it on later).
   * @default false
   */
  enabled?: boolean;
  /**
   * How long after a channel's last local subscriber left this node stops counting as holding it, in ms: a
   * subscriber back within it (on this node or another) makes neither `vacated` nor `occupied`. `0` leaves at once.
   * @default the Hub's `presence.leaveGraceMs` (3_000)
   */
  graceMs?: number;
}

/** {@link OccupancyOptions} after validation. */
export interface ResolvedOccupancy {
  enabled: boolean;
  graceMs: number;
}

/**
 * Validates {@link HubOptions.occupancy}; `graceMs` defaults to `defaultGraceMs` (the presence leave grace).
 * @throws {TypeError} that names the option and says what it must be
 */
export function resolveOccupancy(given: OccupancyOptions | undefined, defaultGraceMs: number): ResolvedOccupancy {
  if (given === undefined) return { enabled: false, graceMs: defaultGraceMs };
  if (typeof given !== 'object' || given === null) {
    throw new TypeError('occupancy must be an object: { enabled?: boolean, graceMs?: number }');
  }
  for (const key of Object.keys(given)) {
    if (key !== 'enabled' && key !== 'graceMs') {
      throw new TypeError(`unknown option occupancy.${key}; known options: enabled, graceMs`);
    }
  }
  const { enabled = false, graceMs = defaultGraceMs } = given;
  if (typeof enabled !== 'boolean') {
    throw new TypeError(`occupancy.enabled must be true or false, got ${String(enabled)}`);
  }
  if (typeof graceMs !== 'number' || !Number.isInteger(graceMs) || graceMs < 0) {
    throw new TypeError(`occupancy.graceMs must be an integer >= 0 (milliseconds), got ${String(graceMs)}`);
  }
  return { enabled, graceMs };
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
  /**
   * Cluster-wide channel occupancy (the `occupancy` event): `{ enabled, graceMs }`.
   * @default { enabled: false, graceMs: presence.leaveGraceMs }
   */
  occupancy?: OccupancyOptions;
  /**
   * The per-node recovery budget: replays of history at once, and how many may wait for one (a reconnect storm is
   * queued, not refused). Identical history reads are merged whatever the budget.
   * @default { maxConcurrent: 128, maxQueued: 100_000 }
   */
  recovery?: RecoveryOptions;
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
  /**
   * A connection (by id, on any node) the message is not delivered to. The message carries a one-way hash of the id
   * (an `except` field native clients ignore), not the id itself.
   */
  exceptConnection?: ConnectionId;
  /**
   * An exclusion key: the message is not delivered to the connection (on any node) whose key it is — a connection's
   * `exceptKey` (what a client event marked `exceptSender` carries), or a Pusher `socket_id` (a Pusher REST publish
   * with `socket_id` skips that socket). At most 64 of `[A-Za-z0-9_.:=@-]`. Ignored when `exceptConnection` is given.
   */
  exceptKey?: string;
  /** The user who sent the message, written into it as `userId` (a client event on a presence channel). */
  userId?: UserId;
}

export function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) {
    throw new TypeError(`${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/** The smallest value each of {@link HubLimits} accepts (a smaller one is a `TypeError`). */
export const HUB_LIMIT_MINIMUMS: Readonly<{ [K in keyof HubLimits]: number }> = {
  maxPayloadBytes: 64,
  maxDepth: 1,
  maxBufferedBytes: 1024,
  messagesPerSecond: 1,
  maxSubscriptionsPerConnection: 1,
  maxRecoveryBuffer: 1,
};

export function resolveLimits(limits: Partial<HubLimits> | undefined): HubLimits {
  return resolveNumbers('limits', DEFAULT_HUB_LIMITS, limits, HUB_LIMIT_MINIMUMS);
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
