import { EventEmitter } from 'node:events';
import { type ResolvedBackpressure, defaultLowWaterBytes, resolveBackpressure } from './backpressure';
import type { Broker, BrokerHost } from './broker';
import type { DecodeLimits } from './codec';
import { Connection, type ConnectionInit, type Identity } from './connection';
import { Backpressure } from './hub/backpressure';
import { Delivery } from './hub/delivery';
import { type HubEvents, type HubStats, newHubStats } from './hub/events';
import {
  type BatchOptions,
  DEFAULT_BATCH_OPTIONS,
  DEFAULT_PRESENCE_OPTIONS,
  DEFAULT_SESSION_OPTIONS,
  type HubLimits,
  type HubOptions,
  type PresenceOptions,
  type PublishAck,
  type PublishOptions,
  type ResolvedOccupancy,
  type SessionOptions,
  positiveInteger,
  resolveLimits,
  resolveNumbers,
  resolveOccupancy,
} from './hub/options';
import { OccupancyTracker, channelOfOccupancyKey } from './hub/occupancy';
import { PresenceTracker } from './hub/presence-tracker';
import { Publisher } from './hub/publisher';
import { RateLimiter } from './hub/rate-limiter';
import { Recovery, type RecoveryStats } from './hub/recovery';
import { resolveRecoveryOptions } from './hub/recovery-budget';
import { ChannelRegistry, ConnectionRegistry } from './hub/registry';
import { Replies } from './hub/replies';
import type { Reply } from './hub/reply';
import { CommandRouter } from './hub/router';
import { SessionClock } from './hub/session-clock';
import { Subscriptions } from './hub/subscriptions';
import { TERMINATE_PREFIX, isCloseCode, readTerminate, terminateLine } from './hub/terminate';
import { LatencyRecorder } from './latency';
import { MemoryBroker } from './memory-broker';
import { isAppScoped, isValidChannelName, userChannel } from './protocol/channel';
import { BROADCAST_CHANNEL, CloseCode, ErrorCode, PROTOCOL_VERSION } from './protocol/constants';
import { UnisocketError } from './protocol/errors';
import type { ChannelName, ClientCommand, ConnectionId, PresenceMember, UserId } from './protocol/types';
import { IdGenerator, type MaybePromise, assertNodeId, randomNodeId } from './util';

export {
  type BatchOptions,
  type HubLimits,
  type HubOptions,
  type HubPolicy,
  type OccupancyOptions,
  type PresenceOptions,
  type PublishAck,
  type PublishOptions,
  type ResolvedOccupancy,
  type SessionOptions,
  type SubscribeContext,
  type SubscribeGrant,
  DEFAULT_BATCH_OPTIONS,
  DEFAULT_HUB_LIMITS,
  DEFAULT_PRESENCE_OPTIONS,
  DEFAULT_SESSION_OPTIONS,
  HUB_LIMIT_MINIMUMS,
  resolveNumbers,
} from './hub/options';
export type { ClientPublish, HubEvents, HubStats, OccupancyAction, TransportTotals } from './hub/events';
export type { RecoveryStats } from './hub/recovery';
export {
  RECONNECT_ADVICE_KEY,
  MAX_RECONNECT_SPREAD_MS,
  withReconnectAdvice,
  readReconnectAdvice,
  autoReconnectSpreadMs,
  resolveReconnectSpread,
  reconnectAdvice,
} from './hub/reconnect-advice';
export {
  type RecoveryOptions,
  type ResolvedRecoveryOptions,
  DEFAULT_RECOVERY_OPTIONS,
  resolveRecoveryOptions,
} from './hub/recovery-budget';
export { OCCUPANCY_KEY_PREFIX, channelOfOccupancyKey, occupancyKey } from './hub/occupancy';

/** An identity from a handshake or an `auth` command may not take an app-scoped user id (see {@link Hub.identify}). */
function reservedUserId(userId: string): UnisocketError {
  return new UnisocketError(
    ErrorCode.UNAUTHORIZED,
    `user ids starting with "app:" are reserved for other apps' namespaces, got "${userId.slice(0, 60)}"`,
    { closeCode: CloseCode.UNAUTHORIZED, httpStatus: 401 },
  );
}

/**
 * The local registry of channels and connections, and the publish path.
 *
 * Transports hand it connections and inbound frames; it decodes and checks commands, keeps subscriptions,
 * publishes through the {@link Broker}, and delivers what the broker dispatches: serialized once per publish,
 * coalesced per channel per tick into one batch, written to every local subscriber. Subscriptions with `since`
 * replay history first and switch to live without a gap or a duplicate at the seam.
 *
 * This class is the facade: options, the public API and events. The work is done by parts under `hub/` that each
 * own one concern (see the package README, "How it is built"), created once here with direct references.
 */
export class Hub extends EventEmitter<HubEvents> {
  readonly nodeId: string;
  readonly broker: Broker;
  readonly heartbeatMs: number;
  readonly batch: Readonly<BatchOptions>;
  readonly presenceOptions: Readonly<PresenceOptions>;
  readonly sessionOptions: Readonly<SessionOptions>;
  readonly stats: HubStats = newHubStats();
  /** Publish→flush latency, one sample per flushed batch (read by monitoring). */
  readonly latency: LatencyRecorder;

  readonly #ids: IdGenerator;
  readonly #backpressureOptions: ResolvedBackpressure;
  #limits: Readonly<HubLimits>;
  #started = false;
  #closed = false;
  #refusing: string | undefined;

  readonly #connections: ConnectionRegistry;
  readonly #channels: ChannelRegistry;
  readonly #replies: Replies;
  readonly #backpressure: Backpressure;
  readonly #delivery: Delivery;
  readonly #recovery: Recovery;
  readonly #presence: PresenceTracker;
  readonly #occupancy: OccupancyTracker;
  #occupancyOptions: Readonly<ResolvedOccupancy>;
  readonly #subscriptions: Subscriptions;
  readonly #publisher: Publisher;
  readonly #session: SessionClock;
  readonly #rateLimiter: RateLimiter;
  readonly #router: CommandRouter;

  constructor(options: HubOptions = {}) {
    super();
    this.broker = options.broker ?? new MemoryBroker(options.nodeId === undefined ? {} : { nodeId: options.nodeId });
    this.nodeId = assertNodeId(options.nodeId ?? this.broker.nodeId ?? randomNodeId());
    this.heartbeatMs = positiveInteger('heartbeatMs', options.heartbeatMs ?? 25_000);
    const limits = (this.#limits = resolveLimits(options.limits));
    const maxBuffered = limits.maxBufferedBytes;
    const bp = (this.#backpressureOptions = resolveBackpressure(options.backpressure, maxBuffered));
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
    const occupancy = (this.#occupancyOptions = resolveOccupancy(options.occupancy, this.presenceOptions.leaveGraceMs));
    const policy = options.policy ?? {};
    this.latency = new LatencyRecorder(options.latency);
    const decodeLimits: DecodeLimits = {
      maxPayloadBytes: limits.maxPayloadBytes,
      maxDepth: limits.maxDepth,
      maxCommandsPerFrame: 100,
    };
    this.#ids = new IdGenerator(this.nodeId);

    // the parts, lowest first; each holds direct references to those it uses
    const stats = this.stats;
    const connections = (this.#connections = new ConnectionRegistry(stats, this));
    const channels = (this.#channels = new ChannelRegistry(this.broker, bp, connections.all));
    const replies = (this.#replies = new Replies(maxBuffered, stats, this, connections));
    const backpressure = (this.#backpressure = new Backpressure(
      maxBuffered,
      bp.lowWaterBytes ?? defaultLowWaterBytes(maxBuffered),
      bp.drainCheckMs,
      this.batch.maxMessages,
      stats,
      connections,
    ));
    const delivery = (this.#delivery = new Delivery(
      maxBuffered,
      this.batch,
      stats,
      this.latency,
      channels,
      connections,
      backpressure,
      {
        feed: (ch, items) => this.#recovery.feed(ch, items),
      },
    ));
    const recovery = (this.#recovery = new Recovery(
      limits.maxRecoveryBuffer,
      resolveRecoveryOptions(options.recovery),
      this.broker,
      stats,
      this,
      replies,
      channels,
      connections,
      delivery,
      backpressure,
      { abort: (sub, error, reply) => this.#subscriptions.abort(sub, error, reply) },
    ));
    const presence = (this.#presence = new PresenceTracker(this.presenceOptions, this.broker, this, replies));
    this.#occupancy = new OccupancyTracker(occupancy.graceMs, this.nodeId, this.broker, this, replies);
    if (occupancy.enabled) channels.lifecycle = this.#occupancy;
    const subscriptions = (this.#subscriptions = new Subscriptions(
      limits.maxSubscriptionsPerConnection,
      this.presenceOptions.maxChannelsPerConnection,
      policy,
      this,
      replies,
      channels,
      recovery,
      presence,
      backpressure,
    ));
    const publisher = (this.#publisher = new Publisher(this.broker, this.#ids, policy, stats, this, replies));
    this.#session = new SessionClock(this.sessionOptions, stats, replies);
    const rateLimiter = (this.#rateLimiter = new RateLimiter(limits.messagesPerSecond, stats, replies));
    this.#router = new CommandRouter(
      decodeLimits,
      policy,
      stats,
      replies,
      rateLimiter,
      subscriptions,
      publisher,
      presence,
      {
        setIdentity: (conn, identity) => this.#setIdentity(conn, identity),
      },
    );

    const host: BrokerHost = {
      dispatch: (message) => delivery.dispatch(message),
      dispatchVolatile: (channel, line) => {
        // volatile lines are rare (presence changes): the control line of disconnectUser is checked for only here
        if (line.startsWith(TERMINATE_PREFIX)) this.#terminateFromBroker(channel, line);
        else delivery.dispatchVolatile(channel, line);
      },
      resync: (channel, position) => recovery.resync(channel, position),
      activate: (channel, position) => channels.activate(channel, position),
      // asked on demand (Broker.subscriberCounts: the REST APIs), never on the message path
      subscriberCounts: () => channels.subscriberCounts(),
    };
    this.broker.attach(host);
    this.broker.on('error', (error) => replies.emitError(error));
    // presence changes the backend decided (a dead node's members swept) reach clients like the Hub's own; those of
    // occupancy keys (a dead node's channels swept) are no channel's members: they become `occupancy` events
    this.broker.on('presence', (channel, action, member) => {
      const occupied = channelOfOccupancyKey(channel);
      if (occupied !== undefined) this.#occupancy.fromStore(occupied, action);
      else presence.announce(channel, action, member);
    });
  }

  /** Starts the broker and the `*` channel. Rejects with the broker's error when it cannot start. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    await this.broker.start();
    const position = await this.broker.subscribe(BROADCAST_CHANNEL);
    this.#channels.activate(BROADCAST_CHANNEL, position);
  }

  /** `true` after {@link close}. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The per-connection limits in force (see {@link setLimits}). */
  get limits(): Readonly<HubLimits> {
    return this.#limits;
  }

  // ------------------------------------------------------------------------------------------------
  // memory-pressure controls (used by the server)
  // ------------------------------------------------------------------------------------------------

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
    const explicitLow = this.#backpressureOptions.lowWaterBytes;
    if (explicitLow !== undefined && next.maxBufferedBytes <= explicitLow) {
      throw new TypeError(
        `limits.maxBufferedBytes must stay above backpressure.lowWaterBytes (${explicitLow}), got ${next.maxBufferedBytes}`,
      );
    }
    this.#limits = { ...this.#limits, ...next };
    this.#delivery.maxBuffered = next.maxBufferedBytes;
    this.#replies.maxBuffered = next.maxBufferedBytes;
    this.#backpressure.setBounds(next.maxBufferedBytes, explicitLow ?? defaultLowWaterBytes(next.maxBufferedBytes));
    this.#recovery.maxRecoveryBuffer = next.maxRecoveryBuffer;
  }

  /**
   * While `true`, `drop-oldest` channels (volatile traffic) are not delivered at all; every line not delivered is
   * counted in `stats.drops.shed`. Memory pressure (critical) turns it on and off.
   */
  get shedding(): boolean {
    return this.#backpressure.shedding;
  }

  set shedding(on: boolean) {
    this.#backpressure.shedding = on;
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
    return this.#backpressure.disconnectHeaviest(maxTotalBytes, reason);
  }

  /** Connections backed up now on `drop-oldest` / `coalesce-latest` channels, and the bytes their backlogs hold. */
  backlogStats(): { connections: number; bytes: number } {
    return this.#backpressure.backlogStats();
  }

  /**
   * What recovery did and holds now: history reads asked for, issued and merged, and the recovery budget's replays
   * running and waiting (see {@link HubOptions.recovery}).
   */
  recoveryStats(): RecoveryStats {
    return this.#recovery.stats();
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
    if (init.identity !== undefined && isAppScoped(init.identity.userId)) throw reservedUserId(init.identity.userId);
    const conn = new Connection(this.#ids.next(), init.socket, init.transport, init.ip, this.#rateLimiter.burst);
    this.#connections.add(conn);
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
    if (!this.#connections.delete(conn)) return;
    if (conn.closedWith !== undefined) ({ code, reason } = conn.closedWith);
    conn.closed = true;
    this.#session.stop(conn);
    this.#recovery.dropWaiting(conn);
    this.#subscriptions.detachAll(conn);
    this.#backpressure.drop(conn);
    this.#connections.retire(conn);
    this.emit('disconnect', conn, code, reason);
  }

  /** Closes a connection (it is removed when its transport reports the close). */
  disconnect(conn: Connection, code: number, reason: string): void {
    this.#connections.disconnect(conn, code, reason);
  }

  /**
   * Closes every connection of a user on every node: this node's at once, the others' through the broker (a volatile
   * line on the user's personal channel, which every node holding a connection of the user has at the broker; the
   * nodes the broker reaches at that moment close theirs). A user id that makes no valid personal channel (too long)
   * has none: only this node's connections are closed.
   * @returns the number of this node's connections closed
   * @throws {TypeError} for a close code other than 1000, 1001, 1008, 1011 or 3000–4999, or a reason over 123 bytes
   */
  disconnectUser(userId: UserId, code: number, reason: string): number {
    if (!isCloseCode(code)) throw new TypeError(`disconnectUser: ${code} is not a close code a server may send`);
    if (Buffer.byteLength(reason) > 123) throw new TypeError('disconnectUser: the close reason is over 123 bytes');
    const closed = this.#disconnectLocalUser(userId, code, reason);
    const channel = userChannel(userId);
    if (isValidChannelName(channel)) this.broker.publishVolatile(channel, terminateLine({ userId, code, reason }));
    return closed;
  }

  #disconnectLocalUser(userId: UserId, code: number, reason: string): number {
    let closed = 0;
    for (const conn of this.userConnections(userId)) {
      if (conn.closed) continue;
      this.disconnect(conn, code, reason);
      closed++;
    }
    return closed;
  }

  /** Another node's (or this node's own, echoed) {@link disconnectUser}. */
  #terminateFromBroker(channel: ChannelName, line: string): void {
    const request = readTerminate(channel, line);
    if (request !== undefined) this.#disconnectLocalUser(request.userId, request.code, request.reason);
  }

  /** A connection by id (a scan: for diagnostics and tools, not for hot paths). */
  getConnection(id: ConnectionId): Connection | undefined {
    for (const conn of this.#connections.all) if (conn.id === id) return conn;
    return undefined;
  }

  /** Every connection on this node. */
  connections(): IterableIterator<Connection> {
    return this.#connections.all.values();
  }

  /** The number of connections on this node. */
  get connectionCount(): number {
    return this.#connections.all.size;
  }

  /** The connections of a user on this node. */
  userConnections(userId: UserId): Connection[] {
    const set = this.#connections.users.get(userId);
    return set === undefined ? [] : [...set];
  }

  /** The users with at least one connection on this node. */
  connectedUsers(): UserId[] {
    return [...this.#connections.users.keys()];
  }

  /** The number of users with at least one connection on this node. */
  get userCount(): number {
    return this.#connections.users.size;
  }

  /** The number of subscriptions on this node (every connection's channels, `*` aside). */
  get subscriptionCount(): number {
    return this.#channels.subscriptionCount;
  }

  /** Channels with local subscribers, and how many each has. */
  channelSubscriberCounts(): Map<ChannelName, number> {
    return this.#channels.subscriberCounts();
  }

  /** The local subscribers of a channel (live and recovering). */
  channelSubscribers(channel: ChannelName): Connection[] {
    return this.#channels.subscribers(channel);
  }

  /** The number of channels with local subscribers. */
  get channelCount(): number {
    return this.#channels.channels.size;
  }

  /**
   * Gives a connection an identity its transport established by its own protocol (a Pusher `pusher:signin`), as a
   * successful `auth` would: the first time, the connection joins its user's personal channel. Unlike identities
   * from `auth` and the handshake, the user id may be app-scoped (`app:<appId>:<id>`).
   * @throws {UnisocketError} `FORBIDDEN` when the connection is already another user
   */
  identify(conn: Connection, identity: Identity): void {
    if (conn.userId !== null && conn.userId !== identity.userId) {
      throw new UnisocketError(
        ErrorCode.FORBIDDEN,
        `this connection is authenticated as "${conn.userId}"; open a new connection to change users`,
      );
    }
    if (!conn.closed) this.#setIdentity(conn, identity);
  }

  /** Sets (or refreshes) a connection's identity; the first time, subscribes it to its user channel. */
  #setIdentity(conn: Connection, identity: Identity): void {
    const first = conn.userId === null;
    conn.userId = identity.userId;
    if (identity.info !== undefined) conn.info = identity.info;
    this.#session.arm(conn, identity.expiresAt);
    if (first) {
      this.#connections.addUser(conn, identity.userId);
      const name = userChannel(identity.userId);
      if (isValidChannelName(name)) this.#subscriptions.subscribeUserChannel(conn, name);
    }
    this.emit('authenticated', conn, identity);
  }

  // ------------------------------------------------------------------------------------------------
  // inbound
  // ------------------------------------------------------------------------------------------------

  /** Handles one inbound text frame (one command, or several separated by `\n`). */
  handleText(conn: Connection, text: string): void {
    this.#router.handleText(conn, text);
  }

  /**
   * Handles one decoded command. The reply (`ack` or `error`) goes to `reply` when given (the Socket.IO
   * acknowledgement callback), otherwise to the connection. Commands run in order: while an `auth` is being
   * verified, the commands after it wait for it (so `auth` then `subscribe` pipelined sees the identity).
   */
  handleCommand(conn: Connection, cmd: ClientCommand, reply?: Reply): void {
    this.#router.handleCommand(conn, cmd, reply);
  }

  /**
   * Handles a command that failed to decode (the transport validated it and got `error`): it counts as a command
   * and takes a rate-limit token like any other, then the error goes to `reply` when given, otherwise to the
   * connection (and the connection closes when the error carries a close code).
   */
  handleInvalid(conn: Connection, error: UnisocketError, reply?: Reply): void {
    this.#router.handleInvalid(conn, error, reply);
  }

  /** Reports a failed command to the client (and closes it when the error carries a close code). */
  reportError(conn: Connection, error: unknown, reply?: Reply): void {
    this.#replies.fail(conn, error, reply);
  }

  /**
   * Answers an inbound frame the transport could not accept (e.g. a binary frame) with `error`. It counts as a
   * command for the rate limiter, so a flood of bad frames is throttled and closed (4029) like any other.
   */
  rejectFrame(conn: Connection, error: UnisocketError): void {
    this.#router.handleInvalid(conn, error, undefined);
  }

  // ------------------------------------------------------------------------------------------------
  // publish and presence
  // ------------------------------------------------------------------------------------------------

  /**
   * Publishes a message on a channel (`*` reaches every connection). The message is serialized once here;
   * every node with subscribers delivers it.
   * @throws {UnisocketError} `BAD_REQUEST` for an invalid channel, event or non-JSON data;
   *   `UNAVAILABLE` when the broker cannot take it
   */
  publish(channel: ChannelName, event: string, data: unknown, options: PublishOptions = {}): MaybePromise<PublishAck> {
    return this.#publisher.publish(channel, event, data, options);
  }

  /** The members of a presence channel (cluster-wide when the broker's presence is). */
  presenceMembers(channel: ChannelName): MaybePromise<PresenceMember[]> {
    return this.#presence.members(channel);
  }

  // ------------------------------------------------------------------------------------------------
  // lifecycle events
  // ------------------------------------------------------------------------------------------------

  /**
   * The occupancy options in force (see {@link HubOptions.occupancy}): `enabled` turns `true` once
   * {@link trackOccupancy} was called; `graceMs` is how long a channel's last local subscriber is waited for.
   */
  get occupancyOptions(): Readonly<ResolvedOccupancy> {
    return this.#occupancyOptions;
  }

  /**
   * Starts tracking cluster-wide channel occupancy (the `occupancy` event) now, as `occupancy.enabled` does from the
   * start: the channels this node already has subscribers for are recorded at once (one that is new anywhere is
   * `occupied`), later ones when they get their first local subscriber. Idempotent; does nothing once closed.
   */
  trackOccupancy(): void {
    if (this.#occupancyOptions.enabled || this.#closed) return;
    this.#occupancyOptions = { ...this.#occupancyOptions, enabled: true };
    const channels = this.#channels;
    channels.lifecycle = this.#occupancy;
    for (const name of [...channels.channels.keys()]) this.#occupancy.acquired(name);
  }

  /**
   * Reports that a transport told a client that a cache channel has no last event yet (the Pusher transport's
   * `pusher:cache_miss`): emits the `cacheMiss` event. `channel` is the Hub's channel name (with its app namespace).
   */
  reportCacheMiss(conn: Connection, channel: ChannelName): void {
    this.emit('cacheMiss', conn, channel);
  }

  // ------------------------------------------------------------------------------------------------
  // shutdown
  // ------------------------------------------------------------------------------------------------

  /**
   * Flushes pending batches and closes every connection (default 1001: reconnect elsewhere) with `reason`, or the
   * reason `reason(conn)` gives each connection (a per-connection reconnect advice, ≤ 123 bytes). Presence leaves,
   * also those waiting out `leaveGraceMs`, and this node's occupancy (also within its grace) are removed at once.
   * Does not close the broker (its owner does). Idempotent.
   */
  close(
    code: number = CloseCode.GOING_AWAY,
    reason: string | ((conn: Connection) => string) = 'server shutting down',
  ): void {
    if (this.#closed) return;
    this.#delivery.flushAll();
    this.#closed = true;
    this.#presence.closing = true;
    this.#occupancy.closing = true;
    for (const conn of [...this.#connections.all]) {
      const text = typeof reason === 'string' ? reason : reason(conn);
      this.disconnect(conn, code, text);
      this.removeConnection(conn, code, text);
    }
    this.#presence.close();
    this.#occupancy.close();
    this.#backpressure.close();
  }
}
