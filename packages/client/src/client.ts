import {
  type AckFrame,
  type ChannelName,
  type ClientCommand,
  CloseCode,
  ErrorCode,
  type ErrorFrame,
  MAX_EVENT_LENGTH,
  type MessageFrame,
  type PresenceEventFrame,
  type PresenceMember,
  type PublishCommand,
  type ResyncFrame,
  type ServerFrame,
  type StreamPosition,
  type SubscribeCommand,
  UnisocketError,
  type WelcomeFrame,
  channelKind,
  isValidChannelName,
} from '@unisocket/core/protocol';
import { backoffDelay } from './backoff';
import { ChannelRegistry } from './channel-registry';
import { ClientStore } from './client-store';
import type { ClientContext } from './context';
import { Emitter, safeCall, type Unsubscribe } from './emitter';
import { encodeCommand as outgoing } from './frames';
import { PUBLISH_ID_PATTERN, PublishIdGenerator } from './ids';
import { Link } from './link';
import { RequestTable } from './requests';
import { nativeTransport } from './native-transport';
import { type ConnectionSharingSnapshot, SharingState, sharedTransportFactory } from './sharing';
import { socketioTransport } from './socketio-transport';
import {
  DEFAULT_RECONNECT_OPTIONS,
  type ResolvedClientOptions,
  type UnisocketClientOptions,
  resolveClientOptions,
  resolveUrl,
} from './options';
import {
  type SubscribeOptions,
  Subscription,
  type SubscriptionHost,
  SubscriptionSink,
  unsubscribedSnapshot,
} from './subscription';
import type { OutgoingCommand, TransportFactory } from './transport';
import type {
  ChannelMessage,
  ChannelSnapshot,
  ClientEvents,
  ClientSnapshot,
  ClientStats,
  ConnectionSnapshot,
  ConnectionStatus,
  EventMap,
  ExternalStore,
  GapInfo,
  PublishOptions,
  PublishResult,
} from './types';

type Timer = ReturnType<typeof setTimeout>;

interface PendingPublish {
  readonly id: string;
  readonly ref: number;
  readonly channel: ChannelName;
  readonly out: OutgoingCommand;
  readonly resolve: (result: PublishResult) => void;
  readonly reject: (error: UnisocketError) => void;
  /** The link it was last sent on (`undefined`: not sent on the current connection). */
  sentOn: Link | undefined;
  /** Sent at least once: the server may have published it. */
  everSent: boolean;
}

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
  readonly #factory: TransportFactory;
  readonly #ids = new PublishIdGenerator();
  readonly #publishes = new Map<number, PendingPublish>();
  readonly #requests = new RequestTable();
  readonly #store: ClientStore;
  readonly #channels: ChannelRegistry;

  #status: ConnectionStatus = 'idle';
  #connectionId: string | null = null;
  #userId: string | null = null;
  #attempt = 0;
  #lastError: UnisocketError | null = null;
  /** `true` while the client should be connected (between `connect()` and a stop). */
  #wanted = false;
  #everConnected = false;
  /** Consecutive attempts without a stable connection: the backoff exponent. */
  #failures = 0;
  #link: Link | undefined;
  #reconnectTimer: Timer | undefined;
  /** Resets the backoff once a connection stayed up for `reconnect.stableAfterMs`. */
  #stableTimer: Timer | undefined;
  #connectWaiters: { resolve: () => void; reject: (error: UnisocketError) => void }[] = [];

  constructor(options: UnisocketClientOptions) {
    this.options = resolveClientOptions(options);
    const transport = this.options.transport;
    const base =
      transport === 'native'
        ? nativeTransport(this.options.WebSocket === undefined ? {} : { WebSocket: this.options.WebSocket })
        : transport === 'socketio'
          ? socketioTransport(this.options.io === undefined ? {} : { io: this.options.io })
          : transport;
    const share = this.options.shareConnection;
    if (share === false) {
      this.#factory = base;
      this.connectionSharing = null;
    } else {
      const state = new SharingState();
      this.connectionSharing = state.store;
      this.#factory = sharedTransportFactory(base, share, state);
    }
    this.#store = new ClientStore({
      connection: () => ({
        status: this.#status,
        connectionId: this.#connectionId,
        userId: this.#userId,
        attempt: this.#attempt,
        lastError: this.#lastError,
        pendingPublishes: this.#publishes.size,
      }),
      channels: () => this.#channels.snapshots(),
    });
    this.store = this.#store.store;
    this.connectionStore = this.#store.connectionStore;
    const context: ClientContext = {
      options: this.options,
      events: this.#events,
      stats: this.stats,
      requests: this.#requests,
      store: this.#store,
      readyLink: () => (this.#link?.ready === true ? this.#link : undefined),
    };
    this.#channels = new ChannelRegistry(context);
    if (this.options.autoConnect) this.connect().catch(() => undefined);
  }

  // ------------------------------------------------------------------------------------------------
  // connection
  // ------------------------------------------------------------------------------------------------

  /** The connection's status (also in the store snapshot). */
  get status(): ConnectionStatus {
    return this.#status;
  }

  /**
   * Connects, and keeps the connection up (reconnecting with backoff) until {@link disconnect}. Resolves once
   * connected (after `welcome`, and `auth` when a token is used). While waiting for a reconnect, it tries at once.
   * Rejects when the client stops instead: `disconnect()`, an unauthorized token without `getToken`, a policy close
   * (1008), reconnect disabled, or a configuration error (no WebSocket implementation, a bad URL).
   */
  connect(): Promise<void> {
    if (this.#status === 'connected') return Promise.resolve();
    const promise = new Promise<void>((resolve, reject) => this.#connectWaiters.push({ resolve, reject }));
    if (!this.#wanted) {
      this.#wanted = true;
      this.#failures = 0;
      this.#attempt = 0;
      this.#startAttempt();
    } else if (this.#link === undefined) {
      // waiting for a reconnect: try now
      this.#clearReconnectTimer();
      this.#startAttempt();
    }
    return promise;
  }

  /**
   * Closes the connection (code 1000) and stops reconnecting. Subscriptions are kept: a later `connect()`
   * resubscribes and recovers what was missed. Pending publishes are rejected with `UNAVAILABLE`.
   */
  disconnect(): void {
    this.#wanted = false;
    this.#clearReconnectTimer();
    const link = this.#link;
    if (link !== undefined) {
      this.#detach(link);
      link.close(CloseCode.NORMAL, 'client disconnect');
      this.#events.emit('disconnected', { code: CloseCode.NORMAL, reason: 'client disconnect', willReconnect: false });
    }
    this.#stop('disconnected', null, new UnisocketError(ErrorCode.UNAVAILABLE, 'disconnect() was called'));
  }

  /** Adds a client event listener; returns the function that removes it. */
  on<K extends keyof ClientEvents>(event: K, listener: (...args: ClientEvents[K]) => void): Unsubscribe {
    return this.#events.on(event, listener);
  }

  #startAttempt(): void {
    this.#clearReconnectTimer();
    const ms = this.options.connectTimeoutMs;
    const link: Link = new Link(
      {
        factory: this.#factory,
        limits: { maxPayloadBytes: this.options.maxPayloadBytes, maxCommandsPerFrame: this.options.maxCommandsPerFrame },
        heartbeatTimeoutMs: this.options.heartbeatTimeoutMs,
        readyDeadline: { ms, reason: `no welcome within connectTimeoutMs (${ms} ms)` },
        // channels left during the turn first: a subscribe still in the outbox is dropped instead of sent and undone
        beforeFlush: () => this.#channels.leaveReleased(),
      },
      {
        frame: (frame) => this.#onFrame(link, frame),
        closed: (code, reason) => this.#lost(link, code, reason),
        openFailed: (error) => this.#openFailed(link, error),
      },
    );
    this.#link = link;
    this.#attempt++;
    this.#setStatus(this.#everConnected ? 'reconnecting' : 'connecting');
    let url: string;
    try {
      const given = this.options.url;
      url = resolveUrl(typeof given === 'function' ? given() : given);
    } catch (error) {
      this.#fatal(link, error);
      return;
    }
    link.open(url);
  }

  #openFailed(link: Link, error: unknown): void {
    if (this.#link !== link) return;
    // a TypeError is a configuration mistake (no WebSocket implementation): retrying cannot help
    if (error instanceof TypeError) this.#fatal(link, error);
    else this.#lost(link, 1006, error instanceof Error ? error.message : String(error), error);
  }

  #fatal(link: Link, error: unknown): void {
    if (this.#link !== link) return;
    this.#detach(link);
    link.close(CloseCode.NORMAL, 'configuration error');
    const message = error instanceof Error ? error.message : String(error);
    const err = new UnisocketError(ErrorCode.BAD_REQUEST, message, { cause: error });
    this.#stop('disconnected', err, err);
  }

  /** Gives up on a connection that went silent or never completed its handshake. */
  #abandon(link: Link, reason: string): void {
    if (this.#link === link) link.abandon(reason);
  }

  /** Forgets a link: timers, requests, outbox; channels wait for the next connection. */
  #detach(link: Link): void {
    if (this.#link === link) this.#link = undefined;
    link.detach();
    clearTimeout(this.#stableTimer);
    this.#requests.detach(new UnisocketError(ErrorCode.UNAVAILABLE, 'the connection was lost before the server answered'));
    this.#channels.detached();
    this.#connectionId = null;
    this.#userId = null;
    this.#changed();
  }

  /** The connection ended (closed by the server, failed, or abandoned): decide whether and when to retry. */
  #lost(link: Link, code: number, reason: string, cause?: unknown): void {
    if (this.#link !== link) return;
    const wasReady = link.ready;
    if (code === CloseCode.TOO_LARGE) this.#rejectLargestPublish(link);
    this.#detach(link);
    const error = closeError(code, reason, cause ?? link.lastError);
    const reconnect = this.options.reconnect;
    let stop: ConnectionStatus | undefined;
    if (!this.#wanted || reconnect === false) stop = 'disconnected';
    else if (code === CloseCode.UNAUTHORIZED && this.options.getToken === undefined) stop = 'unauthorized';
    else if (code === CloseCode.POLICY) stop = 'disconnected';
    this.#events.emit('disconnected', { code, reason, willReconnect: stop === undefined });
    if (stop !== undefined) {
      this.#stop(stop, error, error);
      return;
    }
    this.#lastError = error;
    const options = reconnect === false ? DEFAULT_RECONNECT_OPTIONS : reconnect;
    let delay: number;
    if (code === CloseCode.GOING_AWAY && wasReady) {
      // the server is shutting down: come back promptly (another node, or the same after a restart), spread out
      delay = Math.floor(Math.random() * options.initialDelayMs);
    } else {
      this.#failures++;
      delay = backoffDelay(this.#failures, options);
    }
    this.#setStatus(code === CloseCode.UNAUTHORIZED ? 'unauthorized' : this.#everConnected ? 'reconnecting' : 'connecting');
    this.#changed();
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      if (this.#wanted && this.#link === undefined) this.#startAttempt();
    }, delay);
  }

  /** Stops trying: status `disconnected` or `unauthorized`; connect() waiters and pending publishes are rejected. */
  #stop(status: ConnectionStatus, error: UnisocketError | null, reason: UnisocketError): void {
    this.#wanted = false;
    this.#clearReconnectTimer();
    if (error !== null) this.#lastError = error;
    this.#attempt = 0;
    this.#setStatus(status);
    this.#changed();
    const waiters = this.#connectWaiters;
    this.#connectWaiters = [];
    for (const w of waiters) w.reject(reason);
    for (const p of [...this.#publishes.values()]) {
      this.#settlePublish(p);
      p.reject(
        new UnisocketError(
          ErrorCode.UNAVAILABLE,
          p.everSent
            ? `the client stopped (${reason.message}) before publish "${p.id}" was acknowledged; it may have been published: retry with { id: "${p.id}" } to publish it at most once`
            : `the client stopped (${reason.message}) before publish "${p.id}" was sent; it was not published`,
          { channel: p.channel, cause: reason },
        ),
      );
    }
  }

  #clearReconnectTimer(): void {
    if (this.#reconnectTimer !== undefined) {
      clearTimeout(this.#reconnectTimer);
      this.#reconnectTimer = undefined;
    }
  }

  #setStatus(status: ConnectionStatus): void {
    if (this.#status === status) return;
    this.#status = status;
    this.#changed();
  }

  // ------------------------------------------------------------------------------------------------
  // inbound
  // ------------------------------------------------------------------------------------------------

  /** A frame of the current link (which recorded the `welcome`, watches the heartbeat and answered a `ping`). */
  #onFrame(link: Link, frame: ServerFrame): void {
    if (this.#link !== link) return;
    switch (frame.type) {
      case 'message':
        this.#channels.message(frame);
        return;
      case 'ack':
        // an ack answers a command of ours, or nothing the client waits for
        this.#requests.ack(frame);
        return;
      case 'error': {
        const error = UnisocketError.fromFrame(frame);
        if (!this.#requests.refused(frame, error)) this.#reportError(error);
        return;
      }
      case 'presence':
        this.#channels.presence(frame);
        return;
      case 'resync':
        this.#channels.resync(frame);
        return;
      case 'welcome':
        this.#onWelcome(link, frame);
        return;
      case 'refresh':
        this.#events.emit('refresh', { expiresAt: frame.expiresAt, graceMs: frame.graceMs });
        if (link.ready && this.options.getToken !== undefined) this.#authenticate(link, 'refresh');
        return;
      default:
        // ping (answered by the link), pong, and frame types of later protocol versions
        return;
    }
  }

  #onWelcome(link: Link, welcome: WelcomeFrame): void {
    this.#connectionId = welcome.connectionId;
    this.#userId = welcome.userId ?? null;
    this.#changed();
    if (this.options.token !== undefined || this.options.getToken !== undefined) this.#authenticate(link, 'connect');
    else this.#ready(link);
  }

  #authenticate(link: Link, purpose: 'connect' | 'refresh'): void {
    const { token, getToken } = this.options;
    let pending: string | Promise<string>;
    try {
      pending = token ?? getToken!();
    } catch (error) {
      this.#authFailed(link, purpose, tokenError(error));
      return;
    }
    Promise.resolve(pending).then(
      (value) => {
        if (this.#link !== link) return;
        if (typeof value !== 'string' || value === '') {
          this.#authFailed(
            link,
            purpose,
            new UnisocketError(ErrorCode.UNAUTHORIZED, 'getToken() must return a non-empty string (or a promise of one)'),
          );
          return;
        }
        const ref = this.#requests.nextRef();
        this.#requests.add(
          ref,
          {
            ack: (ack) => {
              if (this.#link !== link) return;
              if (ack.userId !== undefined) this.#userId = ack.userId;
              this.#changed();
              if (purpose === 'connect') this.#ready(link);
            },
            refused: (error) => this.#authFailed(link, purpose, error),
            timedOut: () => {
              const error = new UnisocketError(
                ErrorCode.UNAVAILABLE,
                `no answer to auth within requestTimeoutMs (${this.options.requestTimeoutMs} ms)`,
              );
              if (purpose === 'connect') this.#abandon(link, error.message);
              else this.#reportError(error);
            },
          },
          this.options.requestTimeoutMs,
        );
        link.send([outgoing({ type: 'auth', token: value, ref })]);
      },
      (error: unknown) => {
        if (this.#link === link) this.#authFailed(link, purpose, tokenError(error));
      },
    );
  }

  #authFailed(link: Link, purpose: 'connect' | 'refresh', error: UnisocketError): void {
    if (this.#link !== link) return;
    if (purpose === 'refresh') {
      // the server closes with 4001 when the grace ends; that close decides what happens next
      this.#reportError(error);
      return;
    }
    this.#lastError = error;
    link.close(CloseCode.NORMAL, 'unauthorized');
    this.#lost(link, CloseCode.UNAUTHORIZED, error.message, error);
  }

  /** Welcomed and authenticated: resubscribe every channel from its position, then resend pending publishes. */
  #ready(link: Link): void {
    link.markReady();
    const reconnected = this.#everConnected;
    if (reconnected) this.stats.reconnects++;
    this.#everConnected = true;
    this.#attempt = 0;
    this.#lastError = null;
    this.#setStatus('connected');
    this.#changed();
    const reconnect = this.options.reconnect;
    if (reconnect !== false) this.#stableTimer = setTimeout(() => (this.#failures = 0), reconnect.stableAfterMs);
    const out = this.#channels.subscribeCommands();
    for (const p of this.#publishes.values()) {
      if (p.everSent) this.stats.publishesResent++;
      p.sentOn = link;
      p.everSent = true;
      out.push(p.out);
    }
    link.send(out);
    this.#events.emit('connected', { connectionId: link.welcome!.connectionId, userId: this.#userId, reconnected });
    const waiters = this.#connectWaiters;
    this.#connectWaiters = [];
    for (const w of waiters) w.resolve();
  }

  #reportError(error: UnisocketError): void {
    this.#lastError = error;
    this.#changed();
    this.#events.emit('error', error);
  }

  // ------------------------------------------------------------------------------------------------
  // outbound
  // ------------------------------------------------------------------------------------------------

  /** Queues a command on the current connection; what one turn of the event loop queues goes out batched. */
  #enqueue(command: OutgoingCommand): void {
    this.#link?.enqueue(command);
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
  subscribe<TEvents extends EventMap = EventMap>(channel: ChannelName, options: SubscribeOptions<TEvents> = {}): Subscription<TEvents> {
    return this.#channels.subscribe(channel, options);
  }

  /** The channels the client holds. */
  get channels(): ChannelName[] {
    return this.#channels.names();
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
  publish<TData = unknown>(channel: ChannelName, event: string, data?: TData, options: PublishOptions = {}): Promise<PublishResult> {
    if (!isValidChannelName(channel)) {
      return Promise.reject(
        new UnisocketError(
          ErrorCode.BAD_REQUEST,
          `invalid channel name ${JSON.stringify(String(channel)).slice(0, 60)}: use 1-200 characters of [A-Za-z0-9_.:=@-]`,
        ),
      );
    }
    if (typeof event !== 'string' || event.length === 0 || event.length > MAX_EVENT_LENGTH) {
      return Promise.reject(
        new UnisocketError(ErrorCode.BAD_REQUEST, `event must be a non-empty string of at most ${MAX_EVENT_LENGTH} characters`, { channel }),
      );
    }
    const id = options.id ?? this.#ids.next();
    if (typeof id !== 'string' || !PUBLISH_ID_PATTERN.test(id)) {
      return Promise.reject(
        new UnisocketError(ErrorCode.BAD_REQUEST, 'options.id must be 1-64 characters of [A-Za-z0-9_.:=@-]', { channel }),
      );
    }
    const ref = this.#requests.nextRef();
    const command: PublishCommand = { type: 'publish', channel, event, ref, id };
    if (data !== undefined) command.data = data;
    let out: OutgoingCommand;
    try {
      out = outgoing(command);
    } catch (error) {
      return Promise.reject(
        new UnisocketError(ErrorCode.BAD_REQUEST, `data is not JSON-serializable: ${(error as Error).message}`, {
          channel,
          cause: error,
        }),
      );
    }
    if (out.bytes > this.options.maxPayloadBytes) {
      return Promise.reject(
        new UnisocketError(
          ErrorCode.PAYLOAD_TOO_LARGE,
          `the publish is ${out.bytes} bytes, over maxPayloadBytes (${this.options.maxPayloadBytes}); send less data`,
          { channel },
        ),
      );
    }
    const link = this.#link;
    const ready = link?.ready === true;
    if (!ready && this.#publishes.size >= this.options.maxQueuedPublishes) {
      return Promise.reject(
        new UnisocketError(
          ErrorCode.LIMIT_EXCEEDED,
          `the offline publish queue is full (${this.options.maxQueuedPublishes} publishes wait for the connection); wait for status "connected" or raise maxQueuedPublishes`,
          { channel },
        ),
      );
    }
    if (!ready && !this.#wanted && this.#status !== 'idle') {
      return Promise.reject(
        new UnisocketError(ErrorCode.UNAVAILABLE, `the client is ${this.#status}: call connect() before publishing`, { channel }),
      );
    }
    return new Promise<PublishResult>((resolve, reject) => {
      const pending: PendingPublish = { id, ref, channel, out, resolve, reject, sentOn: undefined, everSent: false };
      this.#requests.add(
        ref,
        {
          ack: (ack) => {
            this.#settlePublish(pending);
            resolve({ id: ack.id ?? id, channel, offset: ack.offset ?? -1, duplicate: ack.duplicate === true });
          },
          refused: (error) => {
            this.#settlePublish(pending);
            reject(error);
          },
          timedOut: () => this.#publishTimedOut(pending),
          // kept: sent again, with the same ref and id, on the next connection
          detached: () => {
            pending.sentOn = undefined;
            return true;
          },
        },
        this.options.publishTimeoutMs,
      );
      this.#publishes.set(ref, pending);
      this.#changed();
      if (ready) {
        pending.sentOn = link;
        pending.everSent = true;
        this.#enqueue(out);
      }
    });
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

  #publishTimedOut(p: PendingPublish): void {
    if (this.#publishes.get(p.ref) !== p) return;
    this.#settlePublish(p);
    const ms = this.options.publishTimeoutMs;
    p.reject(
      new UnisocketError(
        ErrorCode.UNAVAILABLE,
        p.everSent
          ? `no ack for publish "${p.id}" within publishTimeoutMs (${ms} ms); it may have been published: retry with { id: "${p.id}" } to publish it at most once`
          : `publish "${p.id}" waited publishTimeoutMs (${ms} ms) for a connection; it was not sent`,
        { channel: p.channel },
      ),
    );
  }

  #settlePublish(p: PendingPublish): void {
    this.#requests.delete(p.ref);
    this.#publishes.delete(p.ref);
    this.#changed();
  }

  /** On close 1009 the frame that was too large most likely held the largest unacknowledged publish: drop it. */
  #rejectLargestPublish(link: Link): void {
    let largest: PendingPublish | undefined;
    for (const p of this.#publishes.values()) {
      if (p.sentOn === link && (largest === undefined || p.out.bytes > largest.out.bytes)) largest = p;
    }
    if (largest === undefined) return;
    this.#settlePublish(largest);
    largest.reject(
      new UnisocketError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        `the server closed the connection with 1009 (frame too large) after publish "${largest.id}" (${largest.out.bytes} bytes); set maxPayloadBytes to the server's limits.maxPayloadBytes`,
        { channel: largest.channel, closeCode: CloseCode.TOO_LARGE },
      ),
    );
  }

  // ------------------------------------------------------------------------------------------------
  // presence
  // ------------------------------------------------------------------------------------------------

  /**
   * Asks for the current members of a presence channel the client is subscribed to; also refreshes `members` in the
   * channel's snapshot.
   * Rejects with `BAD_REQUEST` for a non-presence channel, `UNAVAILABLE` when not connected or on timeout, or the
   * server's error (`FORBIDDEN` before the subscription is live).
   */
  presence(channel: ChannelName): Promise<PresenceMember[]> {
    if (!isValidChannelName(channel) || channelKind(channel) !== 'presence') {
      return Promise.reject(
        new UnisocketError(ErrorCode.BAD_REQUEST, `"${String(channel).slice(0, 60)}" is not a presence channel (presence channels start with "presence-")`),
      );
    }
    if (this.#link?.ready !== true) {
      return Promise.reject(new UnisocketError(ErrorCode.UNAVAILABLE, 'not connected: await client.connect() first', { channel }));
    }
    return new Promise((resolve, reject) => {
      const ref = this.#requests.nextRef();
      this.#requests.add(
        ref,
        {
          ack: (ack) => {
            const members = ack.members ?? [];
            this.#channels.membersListed(channel, members);
            resolve(members);
          },
          refused: reject,
          timedOut: () =>
            reject(new UnisocketError(ErrorCode.UNAVAILABLE, `no answer within requestTimeoutMs (${this.options.requestTimeoutMs} ms)`, { channel })),
          detached: (lost) => {
            reject(lost);
          },
        },
        this.options.requestTimeoutMs,
      );
      this.#enqueue(outgoing({ type: 'presence', channel, ref }));
    });
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

  #changed(): void {
    this.#store.changed();
  }
}

function tokenError(error: unknown): UnisocketError {
  const message = error instanceof Error ? error.message : String(error);
  return new UnisocketError(ErrorCode.UNAUTHORIZED, `getToken() failed: ${message}`, { cause: error });
}

const CLOSE_ERRORS: Record<number, [ErrorCode, string]> = {
  [CloseCode.GOING_AWAY]: [ErrorCode.UNAVAILABLE, 'the server is shutting down (1001); reconnecting'],
  [CloseCode.POLICY]: [ErrorCode.FORBIDDEN, 'the server refused this client by policy (1008, e.g. its origin); not reconnecting'],
  [CloseCode.TOO_LARGE]: [ErrorCode.PAYLOAD_TOO_LARGE, 'the server closed the connection: a frame was too large (1009)'],
  [CloseCode.INTERNAL]: [ErrorCode.INTERNAL, 'the server closed the connection after an internal error (1011)'],
  [CloseCode.UNAUTHORIZED]: [
    ErrorCode.UNAUTHORIZED,
    'the server closed the connection: unauthorized or token expired (4001); pass getToken to retry with a fresh token',
  ],
  [CloseCode.SLOW_CONSUMER]: [ErrorCode.UNAVAILABLE, 'the server dropped this client as a slow consumer (4008); reconnecting and recovering'],
  [CloseCode.RATE_LIMITED]: [ErrorCode.RATE_LIMITED, 'the server closed the connection: rate limit exceeded repeatedly (4029); slow down'],
  [CloseCode.OVERLOADED]: [ErrorCode.UNAVAILABLE, 'the server is overloaded (4503); reconnecting with backoff'],
};

/** The error describing why a connection ended. */
function closeError(code: number, reason: string, cause: unknown): UnisocketError {
  const known = CLOSE_ERRORS[code];
  const [errorCode, text] = known ?? [ErrorCode.UNAVAILABLE, `the connection was lost (${code})`];
  const message = reason !== '' ? `${text}: ${reason}` : text;
  return new UnisocketError(errorCode, message, {
    closeCode: code as CloseCode,
    ...(cause === undefined ? {} : { cause }),
  });
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
