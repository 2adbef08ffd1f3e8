import {
  type ChannelName,
  ErrorCode,
  type PresenceMember,
  UnisocketError,
  channelKind,
  isValidChannelName,
} from '@unisocket/core/protocol';
import { ChannelRegistry } from './channel-registry';
import { ClientStore } from './client-store';
import { Connection } from './connection';
import type { ClientContext } from './context';
import { Emitter, type Unsubscribe } from './emitter';
import { type ResolvedClientOptions, type UnisocketClientOptions, resolveClientOptions } from './options';
import { PublishQueue } from './publish-queue';
import type { ConnectionSharingSnapshot } from './sharing';
import type { SubscribeOptions, Subscription } from './subscription';
import { RequestTable } from './requests';
import { clientTransport } from './transport-factory';
import type {
  ChannelSnapshot,
  ClientEvents,
  ClientSnapshot,
  ClientStats,
  ConnectionSnapshot,
  ConnectionStatus,
  EventMap,
  ExternalStore,
  PublishOptions,
  PublishResult,
} from './types';

/**
 * The unisocket client: one connection (reconnected automatically), channel subscriptions that recover what they
 * missed, acknowledged idempotent publishes, and a store for UI bindings. Create it with {@link createClient}.
 *
 * Works in browsers (global `WebSocket`) and Node (`ws`, loaded lazily when there is no global WebSocket).
 */
export class UnisocketClient {
  /** The options, with defaults applied. */
  readonly options: Readonly<ResolvedClientOptions>;
  /**
   * The client's store: `subscribe(listener)` and `getSnapshot()` (an immutable {@link ClientSnapshot} whose
   * identity changes only when something changed). Listeners are called once per burst of changes (microtask).
   */
  readonly store: ExternalStore<ClientSnapshot>;
  /**
   * With `shareConnection`: a store of this tab's part in the shared connection (`pending`, `leader`, `follower`,
   * or `unsupported` where each tab has its own connection). `null` without `shareConnection`.
   */
  readonly connectionSharing: ExternalStore<ConnectionSharingSnapshot> | null;
  /**
   * A store of the connection state only ({@link ConnectionSnapshot}: the client snapshot without `channels`); its
   * listeners are called only when one of those fields changed.
   */
  readonly connectionStore: ExternalStore<ConnectionSnapshot>;
  /** Counters (diagnostics). */
  readonly stats: ClientStats = { messages: 0, duplicates: 0, reconnects: 0, publishesResent: 0, gaps: 0 };

  readonly #events = new Emitter<ClientEvents>();
  readonly #store: ClientStore;
  readonly #connection: Connection;
  readonly #channels: ChannelRegistry;
  readonly #publishes: PublishQueue;

  constructor(options: UnisocketClientOptions) {
    this.options = resolveClientOptions(options);
    const { factory, sharing } = clientTransport(this.options);
    this.connectionSharing = sharing === null ? null : sharing.store;
    this.#store = new ClientStore({
      connection: () => this.#connection.snapshot(),
      channels: () => this.#channels.snapshots(),
    });
    this.store = this.#store.store;
    this.connectionStore = this.#store.connectionStore;
    const context: ClientContext = {
      options: this.options,
      events: this.#events,
      stats: this.stats,
      requests: new RequestTable(),
      store: this.#store,
      readyLink: () => this.#connection.readyLink(),
    };
    this.#channels = new ChannelRegistry(context);
    this.#publishes = new PublishQueue(context, () => this.#connection.stoppedStatus());
    this.#connection = new Connection(context, factory, { channels: this.#channels, publishes: this.#publishes });
    if (this.options.autoConnect) this.connect().catch(() => undefined);
  }

  // ------------------------------------------------------------------------------------------------
  // connection
  // ------------------------------------------------------------------------------------------------

  /** The connection's status (also in the store snapshot). */
  get status(): ConnectionStatus {
    return this.#connection.status;
  }

  /**
   * Connects, and keeps the connection up (reconnecting with backoff) until {@link disconnect}. Resolves once
   * connected (after `welcome`, and `auth` when a token is used). While waiting for a reconnect, it tries at once.
   * Rejects when the client stops instead: `disconnect()`, an unauthorized token without `getToken`, a policy close
   * (1008), reconnect disabled, or a configuration error (no WebSocket implementation, a bad URL).
   */
  connect(): Promise<void> {
    return this.#connection.connect();
  }

  /**
   * Closes the connection (code 1000) and stops reconnecting. Subscriptions are kept: a later `connect()`
   * resubscribes and recovers what was missed. Pending publishes are rejected with `UNAVAILABLE`.
   */
  disconnect(): void {
    this.#connection.disconnect();
  }

  /** Adds a client event listener; returns the function that removes it. */
  on<K extends keyof ClientEvents>(event: K, listener: (...args: ClientEvents[K]) => void): Unsubscribe {
    return this.#events.on(event, listener);
  }

  // ------------------------------------------------------------------------------------------------
  // subscriptions
  // ------------------------------------------------------------------------------------------------

  /**
   * Subscribes to a channel and returns a handle. Messages are delivered in order, exactly once; after a reconnect
   * the channel is resubscribed from its last position and what was missed is replayed (or a gap is reported).
   * Several handles on one channel share one server subscription.
   *
   * @example
   * ```ts
   * const chat = client.subscribe<{ say: { text: string } }>('chat.lobby', {
   *   events: { say: (data) => render(data.text) },
   *   onGap: () => reloadChat(),
   * });
   * ```
   * @throws {UnisocketError} `BAD_REQUEST` for an invalid channel name
   */
  subscribe<TEvents extends EventMap = EventMap>(
    channel: ChannelName,
    options: SubscribeOptions<TEvents> = {},
  ): Subscription<TEvents> {
    return this.#channels.subscribe(channel, options);
  }

  /** The channels the client holds. */
  get channels(): ChannelName[] {
    return this.#channels.names();
  }

  /**
   * Asks for the current members of a presence channel the client is subscribed to; also refreshes `members` in the
   * channel's snapshot.
   * Rejects with `BAD_REQUEST` for a non-presence channel, `UNAVAILABLE` when not connected or on timeout, or the
   * server's error (`FORBIDDEN` before the subscription is live).
   */
  presence(channel: ChannelName): Promise<PresenceMember[]> {
    return this.#channels.members(channel);
  }

  // ------------------------------------------------------------------------------------------------
  // publish
  // ------------------------------------------------------------------------------------------------

  /**
   * Publishes `data` as `event` on `channel` (the server must allow client publishes there). Resolves with the
   * message's id and offset once the server acknowledged it.
   *
   * Every publish carries an idempotency id. While offline it waits in a bounded queue; if the connection drops
   * before the ack it is sent again after reconnecting with the same id, and the server publishes it at most once
   * (`duplicate: true` in the result then). Rejects with a {@link UnisocketError}: the server's `error` (e.g.
   * `FORBIDDEN`), `BAD_REQUEST` / `PAYLOAD_TOO_LARGE` at once for what cannot be sent, `LIMIT_EXCEEDED` when the
   * offline queue is full, `UNAVAILABLE` on timeout or when the client stops.
   */
  publish<TData = unknown>(
    channel: ChannelName,
    event: string,
    data?: TData,
    options: PublishOptions = {},
  ): Promise<PublishResult> {
    return this.#publishes.publish(channel, event, data, options);
  }

  /**
   * Sends a client event to the other members of a private or presence channel: a publish of `client-<event>`
   * (the Pusher convention; the server must allow client publishes on the channel).
   * @throws nothing; rejects with `BAD_REQUEST` for a channel that is not `private-` or `presence-`
   */
  whisper<TData = unknown>(channel: ChannelName, event: string, data?: TData): Promise<PublishResult> {
    const kind = isValidChannelName(channel) ? channelKind(channel) : undefined;
    if (kind !== 'private' && kind !== 'presence') {
      return Promise.reject(
        new UnisocketError(
          ErrorCode.BAD_REQUEST,
          `whisper is for private- and presence- channels; "${String(channel).slice(0, 60)}" is not one (use publish())`,
        ),
      );
    }
    return this.publish(channel, `client-${event}`, data);
  }

  // ------------------------------------------------------------------------------------------------
  // store
  // ------------------------------------------------------------------------------------------------

  /** The current snapshot (same as `client.store.getSnapshot()`). */
  getSnapshot(): ClientSnapshot {
    return this.#store.getSnapshot();
  }

  /**
   * A store of one channel's {@link ChannelSnapshot}, with the same contract as {@link store}: its listener is called
   * only when that channel's snapshot changed. A channel the client does not hold has a stable `unsubscribed`
   * snapshot.
   */
  channelStore(channel: ChannelName): ExternalStore<ChannelSnapshot> {
    return this.#store.channelStore(channel);
  }
}

/**
 * Creates a client. It connects on `connect()` (or at once with `autoConnect: true`).
 *
 * @example
 * ```ts
 * const client = createClient({ url: 'wss://example.com/ws' });
 * await client.connect();
 * client.subscribe('news').on('update', (data) => console.log(data));
 * await client.publish('chat.lobby', 'say', { text: 'hi' });
 * ```
 * @throws {TypeError} for a missing `url` or a bad option, with a message that says what to change
 */
export function createClient(options: UnisocketClientOptions): UnisocketClient {
  return new UnisocketClient(options);
}
