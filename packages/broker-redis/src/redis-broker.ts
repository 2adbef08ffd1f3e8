import type { EventEmitter } from 'node:events';
import {
  Broker,
  type ChannelName,
  ErrorCode,
  type PresenceMember,
  type PublishRequest,
  type PublishResult,
  type SubscriberCountFilter,
  UnisocketError,
} from '@unisocket/core';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { type CommandClient, defineScripts, newEpoch } from './connection';
import { CountsExchange } from './counts';
import { RedisHistoryStore } from './history';
import { KeySpace } from './keys';
import { type RedisBrokerOptions, type ResolvedRedisOptions, resolveRedisOptions } from './options';
import { RedisPresenceStore } from './presence';

type Client = Redis | Cluster;

/** How long {@link RedisBroker.subscriberCounts} waits for the other nodes' answers at most, in ms. */
export const SUBSCRIBER_COUNTS_TIMEOUT_MS = 1_000;

/**
 * The Redis broker: nodes exchange the messages of the channels they have subscribers for through Redis pub/sub
 * (one Redis channel per unisocket channel, so a node only receives what it delivers), history lives in Redis
 * Streams, and presence is cluster-wide with per-node leases.
 *
 * A publish is one Lua script: it increments the channel's offset, appends the completed line to the channel's
 * stream (trimmed by size and age) and publishes it, atomically — offsets, history and the live stream never
 * disagree. The base class orders, deduplicates and fills gaps from that history.
 *
 * Two connections: commands (auto-pipelined, no offline queue: while Redis is away, publishes wait in the base
 * class's bounded queue instead) and subscriptions. While either is down the broker is `degraded`; it is `ready`
 * again once both are back and every active channel is re-subscribed, and then converges from history.
 */
export class RedisBroker extends Broker {
  readonly kind = 'redis';
  readonly history: RedisHistoryStore;
  readonly presence: RedisPresenceStore;
  /** The key layout (prefix included). */
  readonly keys: KeySpace;

  readonly #settings: ResolvedRedisOptions;
  readonly #publishCommand: 'PUBLISH' | 'SPUBLISH';
  readonly #counts: CountsExchange;
  #cmd: CommandClient | undefined;
  #sub: Client | undefined;
  #cmdReady = false;
  #subReady = false;
  #resubscribing = 0;
  #started = false;
  /** `start()` finished: from now on connection changes move the state. */
  #live = false;
  #closing = false;
  #lastError: string | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: RedisBrokerOptions = {}) {
    super(options);
    this.#settings = resolveRedisOptions(
      options,
      (value) => value instanceof Cluster,
      (value) => value instanceof Redis || value instanceof Cluster,
    );
    this.#publishCommand = this.#settings.sharded ? 'SPUBLISH' : 'PUBLISH';
    this.keys = new KeySpace(this.#settings.keyPrefix);
    const client = (): CommandClient => {
      if (this.#cmd === undefined) {
        throw new UnisocketError(ErrorCode.UNAVAILABLE, 'the redis broker is not started: call start() first');
      }
      return this.#cmd;
    };
    this.history = new RedisHistoryStore(client, this.keys, {
      size: this.#settings.historySize,
      ttlMs: this.#settings.historyTtlMs,
      channelTtlMs: this.#settings.channelTtlMs,
      failoverGuard: this.#settings.redis instanceof Cluster,
    });
    this.presence = new RedisPresenceStore(client, this.keys, this.nodeId, this.#settings.presenceLeaseMs, {
      announce: (channel, action, member) => this.#announce(channel, action, member),
      error: (error) => this.#error(error),
    });
    const broker = this;
    this.#counts = new CountsExchange(this.#settings.keyPrefix, this.nodeId, {
      local: (filter) => this.localSubscriberCounts(filter),
      publish: (channel, payload) => client().publish(channel, payload),
      get exactReceivers() {
        return !(broker.#settings.redis instanceof Cluster);
      },
      error: (error) => this.#error(error),
    });
  }

  /**
   * Subscriber counts of every live node, summed: this node asks the others over Redis pub/sub and each answers with
   * its Hub's counts of that moment (see {@link CountsExchange}); waits {@link SUBSCRIBER_COUNTS_TIMEOUT_MS} at most.
   * While Redis is unreachable it answers this node's counts only.
   */
  override subscriberCounts(filter?: SubscriberCountFilter): Promise<Map<ChannelName, number>> {
    if (this.state !== 'ready') return super.subscriberCounts(filter);
    return this.#counts.query(filter, SUBSCRIBER_COUNTS_TIMEOUT_MS).catch((error: unknown) => {
      this.#error(error);
      return this.localSubscriberCounts(filter);
    });
  }

  /** `true` when messages travel over sharded pub/sub (`SSUBSCRIBE`/`SPUBLISH`). */
  get sharded(): boolean {
    return this.#settings.sharded;
  }

  // ------------------------------------------------------------------------------------------------
  // backend hooks
  // ------------------------------------------------------------------------------------------------

  protected async doStart(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const cmd = defineScripts(this.#createClient('commands'));
    const sub = this.#createClient('subscriber');
    this.#cmd = cmd;
    this.#sub = sub;
    cmd.on('ready', () => {
      this.#cmdReady = true;
      this.#update();
    });
    sub.on('ready', () => this.#resubscribe());
    if (sub instanceof Cluster) {
      // ioredis moved this node's subscriptions to a new topology (a master died and its replica took over): what was
      // published meanwhile never reached this node over pub/sub, so compare every channel with history (filled when
      // it is there, a resync when it was lost with the old master)
      sub.on('subscribersReady', () => {
        if (this.#live && !this.#closing) this.recheck();
      });
    }
    for (const [client, which] of [
      [cmd as EventEmitter, 'commands'],
      [sub as EventEmitter, 'subscriber'],
    ] as const) {
      client.on('error', (error: Error) => {
        // ioredis reports every failed reconnect attempt: keep the reason, report the first of an outage
        const first = this.#lastError === undefined;
        this.#lastError = `redis ${which} connection: ${error.message}`;
        if (first) this.#error(error);
        this.#update();
      });
      client.on('close', () => {
        if (which === 'commands') this.#cmdReady = false;
        else this.#subReady = false;
        this.#update();
      });
    }
    const onMessage = (pubsubChannel: string, payload: string): void => this.#onMessage(pubsubChannel, payload);
    (sub as EventEmitter).on(this.#settings.sharded ? 'smessage' : 'message', onMessage);
    // the subscriber-count exchange uses plain pub/sub channels (also when messages travel over sharded pub/sub)
    if (this.#settings.sharded) {
      (sub as EventEmitter).on('message', (pubsubChannel: string, payload: string) => {
        this.#counts.handle(pubsubChannel, payload);
      });
    }

    const connected = Promise.all([cmd.connect(), sub.connect()]);
    connected.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          new UnisocketError(
            ErrorCode.UNAVAILABLE,
            `cannot reach Redis (${this.#describe()}) within ${this.#settings.connectTimeoutMs} ms: ${this.#lastError ?? 'no answer'}`,
          ),
        );
      }, this.#settings.connectTimeoutMs);
    });
    try {
      await Promise.race([this.#waitUntil(() => (this.#cmdReady && this.#subReady) || this.#closing), timeout]);
      if (this.#closing) throw new UnisocketError(ErrorCode.UNAVAILABLE, 'the redis broker was closed while starting');
    } catch (error) {
      // leave nothing running, and let a later start() try again from scratch
      await Promise.all([quit(cmd), quit(sub)]);
      this.#cmd = undefined;
      this.#sub = undefined;
      this.#cmdReady = false;
      this.#subReady = false;
      this.#started = false;
      throw error;
    } finally {
      clearTimeout(timer);
    }
    this.#lastError = undefined;
    this.#live = true;
    this.#timer = setInterval(() => void this.presence.refresh(), this.#settings.presenceRefreshMs);
    this.#timer.unref();
  }

  protected doPublish(request: PublishRequest): Promise<PublishResult> {
    const channel = request.channel;
    const window = request.idempotent ? this.#settings.idempotencyWindowMs : 0;
    const cmd = this.#cmd!;
    return cmd
      .unisocketPublish(
        this.keys.meta(channel),
        this.keys.stream(channel),
        this.keys.idempotency(channel, request.idempotent ? request.id : '-'),
        newEpoch(),
        this.#settings.channelTtlMs,
        this.keys.pubsub(channel),
        request.head,
        request.id,
        request.ts,
        this.#settings.historySize,
        this.#settings.historyTtlMs,
        window,
        this.#publishCommand,
        this.#settings.redis instanceof Cluster ? 1 : 0,
      )
      .then(
        ([epoch, offset, duplicate]): PublishResult =>
          duplicate === 1 ? { epoch, offset: Number(offset), duplicate: true } : { epoch, offset: Number(offset) },
        (error: unknown) => {
          throw new UnisocketError(
            ErrorCode.UNAVAILABLE,
            `publishing on "${channel}" failed: ${(error as Error).message}; it may or may not have been published (publish with an id to retry safely)`,
            { cause: error },
          );
        },
      );
  }

  protected doPublishVolatile(channel: ChannelName, line: string): void {
    const cmd = this.#cmd;
    if (cmd === undefined || !this.#cmdReady) return; // presence events are not queued: members() is the truth
    cmd.call(this.#publishCommand, this.keys.pubsub(channel), `v${line}`).catch((error: unknown) => this.#error(error));
  }

  protected async doSubscribe(channels: ChannelName[]): Promise<void> {
    const sub = this.#sub;
    if (sub === undefined || !this.#subReady) {
      throw new UnisocketError(
        ErrorCode.UNAVAILABLE,
        `Redis is unreachable (${this.#lastError ?? 'reconnecting'}); retry the subscription`,
      );
    }
    await this.#subscribeAll(
      sub,
      channels.map((c) => this.keys.pubsub(c)),
    );
  }

  protected async doUnsubscribe(channels: ChannelName[]): Promise<void> {
    const sub = this.#sub;
    // a connection that is down has no subscriptions; it re-subscribes only the active channels when it returns
    if (sub === undefined || sub.status !== 'ready') return;
    const names = channels.map((c) => this.keys.pubsub(c));
    if (this.#settings.sharded) {
      if (sub instanceof Cluster) await Promise.all(names.map((n) => sub.sunsubscribe(n)));
      else await sub.sunsubscribe(...names);
    } else {
      await sub.unsubscribe(...names);
    }
  }

  protected async doClose(): Promise<void> {
    this.#closing = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    const cmd = this.#cmd;
    const sub = this.#sub;
    if (cmd !== undefined && this.#cmdReady) {
      await this.presence.drain();
      await this.presence.release().catch(() => undefined);
    }
    await Promise.all([quit(cmd), quit(sub)]);
  }

  /** Waits for presence changes in flight, then closes (they would be lost otherwise). */
  override async close(): Promise<void> {
    if (this.state !== 'closed' && this.#cmdReady) await this.presence.drain();
    await super.close();
  }

  // ------------------------------------------------------------------------------------------------
  // connections
  // ------------------------------------------------------------------------------------------------

  #createClient(role: 'commands' | 'subscriber'): Client {
    const s = this.#settings;
    const retryStrategy = (attempt: number): number => {
      const capped = Math.min(s.maxReconnectDelayMs, 50 * 2 ** Math.min(attempt - 1, 16));
      return Math.round(capped * (0.75 + Math.random() * 0.25));
    };
    const overrides: RedisOptions = {
      lazyConnect: true,
      // never buffer commands without bound while Redis is away: the base class has a bounded queue for publishes
      enableOfflineQueue: false,
      // commands in flight when the connection drops fail at once instead of being re-sent (a re-sent publish
      // could be applied twice) or left waiting
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      // re-subscription is done by the broker, which must know when it is complete before going `ready`
      autoResubscribe: false,
      retryStrategy,
      connectionName: `unisocket-${role}-${this.nodeId}`,
      ...(role === 'commands' ? { enableAutoPipelining: true, commandTimeout: s.commandTimeoutMs } : {}),
    };
    const given = s.redis;
    if (given instanceof Cluster) {
      // ioredis gives every node connection of a Cluster its own retry policy (none: a lost node is replaced after a
      // slots refresh) and offline queue; what stays ours is per command
      const { retryStrategy: _retry, enableOfflineQueue: _queue, lazyConnect: _lazy, ...nodeOptions } = overrides;
      const client = given.duplicate(undefined, {
        lazyConnect: true,
        enableOfflineQueue: false,
        clusterRetryStrategy: retryStrategy,
        ...(role === 'commands'
          ? // a command whose node connection closed (its master died) is never re-sent: it may have run there
            // already (a publish applied twice); it fails with UNAVAILABLE instead, like on a single Redis
            { enableAutoPipelining: true, retryDelayOnFailover: 0 }
          : { shardedSubscribers: s.sharded }),
        redisOptions: { ...given.options.redisOptions, ...nodeOptions },
      });
      // a node is gone (its master died): learn the new topology now instead of at the next periodic refresh, so
      // publishes reach the promoted replica as soon as the cluster has one
      client.on('-node', () => {
        if (client.status === 'ready') client.refreshSlotsCache();
      });
      return client;
    }
    if (given instanceof Redis) return given.duplicate(overrides);
    if (given !== undefined) return new Redis({ ...given, ...overrides });
    return new Redis(s.url, overrides);
  }

  async #subscribeAll(sub: Client, names: string[]): Promise<void> {
    if (names.length === 0) return;
    if (!this.#settings.sharded) {
      await sub.subscribe(...names);
    } else if (sub instanceof Cluster) {
      // a Cluster routes one shard channel per command (each may live on another shard)
      await Promise.all(names.map((n) => sub.ssubscribe(n)));
    } else {
      await sub.ssubscribe(...names);
    }
  }

  /** The subscriber connection is back: re-subscribe every active channel, then report ready. */
  #resubscribe(): void {
    const sub = this.#sub!;
    const attempt = ++this.#resubscribing;
    const names = [...this.channels].map((c) => this.keys.pubsub(c));
    Promise.all([this.#subscribeAll(sub, names), sub.subscribe(...this.#counts.channels)]).then(
      () => {
        if (attempt !== this.#resubscribing || sub.status !== 'ready') return;
        this.#subReady = true;
        this.#update();
      },
      (error: unknown) => {
        // the connection dropped again: its next `ready` retries
        this.#lastError = `redis subscriber connection: ${(error as Error).message}`;
        this.#error(error);
      },
    );
  }

  #update(): void {
    // before start() finished, start() itself reports success or failure
    if (!this.#live || this.#closing || this.state === 'closed') return;
    if (this.#cmdReady && this.#subReady) {
      this.#lastError = undefined;
      this.setState('ready');
      return;
    }
    this.setState('degraded', this.#lastError ?? 'the Redis connection was lost; reconnecting');
  }

  #waitUntil(test: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const poll = setInterval(() => {
        if (!test()) return;
        clearInterval(poll);
        resolve();
      }, 5);
    });
  }

  // ------------------------------------------------------------------------------------------------
  // inbound
  // ------------------------------------------------------------------------------------------------

  #onMessage(pubsubChannel: string, payload: string): void {
    // a channel's pub/sub name is `<prefix>{…}`; the subscriber-count exchange's are not
    if (pubsubChannel.charCodeAt(this.#settings.keyPrefix.length) !== 123 /* { */) {
      if (!this.#settings.sharded) this.#counts.handle(pubsubChannel, payload);
      return;
    }
    const channel = this.keys.channelOf(pubsubChannel);
    if (payload.charCodeAt(0) === 118 /* v */) {
      this.receiveVolatile(channel, payload.slice(1));
      return;
    }
    // m<epoch> <offset> <ts> <id> <line>
    const a = payload.indexOf(' ', 1);
    const b = payload.indexOf(' ', a + 1);
    const c = payload.indexOf(' ', b + 1);
    const d = payload.indexOf(' ', c + 1);
    if (payload.charCodeAt(0) !== 109 /* m */ || a < 0 || b < 0 || c < 0 || d < 0) {
      this.#error(new Error(`ignored a malformed message on ${pubsubChannel}`));
      return;
    }
    this.receive({
      channel,
      epoch: payload.slice(1, a),
      offset: Number(payload.slice(a + 1, b)),
      ts: Number(payload.slice(b + 1, c)),
      id: payload.slice(c + 1, d),
      line: payload.slice(d + 1),
    });
  }

  #announce(channel: ChannelName, action: 'join' | 'leave', member: PresenceMember): void {
    if (this.state === 'closed') return;
    this.emit('presence', channel, action, member);
  }

  #error(error: unknown): void {
    const err = error instanceof Error ? error : new Error(String(error));
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  #describe(): string {
    const given = this.#settings.redis;
    if (given === undefined) return this.#settings.url.replace(/\/\/[^@/]*@/, '//***@');
    if (given instanceof Cluster) return 'cluster';
    const o = given instanceof Redis ? given.options : given;
    return `${o.host ?? '127.0.0.1'}:${o.port ?? 6379}`;
  }
}

async function quit(client: Client | undefined): Promise<void> {
  if (client === undefined) return;
  if (client.status === 'ready') {
    await client.quit().catch(() => client.disconnect());
  } else {
    client.disconnect();
  }
}
