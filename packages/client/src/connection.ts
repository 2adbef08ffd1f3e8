import { CloseCode, ErrorCode, type ServerFrame, UnisocketError, type WelcomeFrame } from '@unisocket/core/protocol';
import { backoffDelay } from './backoff';
import type { ChannelRegistry } from './channel-registry';
import { closeError, tokenError } from './connection-errors';
import type { ClientContext } from './context';
import { encodeCommand } from './frames';
import { Link } from './link';
import { DEFAULT_RECONNECT_OPTIONS, resolveUrl } from './options';
import type { PublishQueue } from './publish-queue';
import type { TransportFactory } from './transport';
import type { ConnectionSnapshot, ConnectionStatus } from './types';
import { MAX_ADVISED_DELAY_MS, UrlRotation, readReconnectAdvice } from './urls';

type Timer = ReturnType<typeof setTimeout>;

/** What a connection opens, resends and resets: the client's channels and publishes. */
export interface ConnectionParts {
  readonly channels: ChannelRegistry;
  readonly publishes: PublishQueue;
}

/**
 * The client's connection over time: one {@link Link} per attempt, `welcome` then `auth` (with `token` or
 * `getToken`, also when the server asks for a `refresh`), then every channel resubscribed from its position and the
 * pending publishes sent again; after a loss, a reconnect with backoff (full jitter) chosen by the close code, or a
 * stop. It routes the frames of the current link: replies to the request table, the rest to the channels.
 * @internal
 */
export class Connection {
  readonly #context: ClientContext;
  readonly #factory: TransportFactory;
  readonly #parts: ConnectionParts;
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
  /** The servers, when `url` lists several: a random start, the next one after every loss. */
  readonly #urls: UrlRotation | undefined;

  constructor(context: ClientContext, factory: TransportFactory, parts: ConnectionParts) {
    this.#context = context;
    this.#factory = factory;
    this.#parts = parts;
    const url = context.options.url;
    this.#urls = Array.isArray(url) ? new UrlRotation(url) : undefined;
  }

  get status(): ConnectionStatus {
    return this.#status;
  }

  /** The connection part of the client snapshot, as it is now. */
  snapshot(): ConnectionSnapshot {
    return {
      status: this.#status,
      connectionId: this.#connectionId,
      userId: this.#userId,
      attempt: this.#attempt,
      lastError: this.#lastError,
      pendingPublishes: this.#parts.publishes.size,
    };
  }

  /** The link commands flow on (welcomed, and authenticated when a token is used), while there is one. */
  readyLink(): Link | undefined {
    return this.#link?.ready === true ? this.#link : undefined;
  }

  /** The status the client stopped at (not trying to connect, and not idle); `undefined` otherwise. */
  stoppedStatus(): ConnectionStatus | undefined {
    return !this.#wanted && this.#status !== 'idle' ? this.#status : undefined;
  }

  /** See `UnisocketClient.connect`. */
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

  /** See `UnisocketClient.disconnect`. */
  disconnect(): void {
    this.#wanted = false;
    this.#clearReconnectTimer();
    const link = this.#link;
    if (link !== undefined) {
      this.#detach(link);
      link.close(CloseCode.NORMAL, 'client disconnect');
      this.#context.events.emit('disconnected', {
        code: CloseCode.NORMAL,
        reason: 'client disconnect',
        willReconnect: false,
      });
    }
    this.#stop('disconnected', null, new UnisocketError(ErrorCode.UNAVAILABLE, 'disconnect() was called'));
  }

  /** An error not tied to a promise the app holds: kept as `lastError` and emitted as `error`. */
  reportError(error: UnisocketError): void {
    this.#lastError = error;
    this.#changed();
    this.#context.events.emit('error', error);
  }

  // ------------------------------------------------------------------------------------------------
  // attempts
  // ------------------------------------------------------------------------------------------------

  #startAttempt(): void {
    this.#clearReconnectTimer();
    const { options } = this.#context;
    const ms = options.connectTimeoutMs;
    const link: Link = new Link(
      {
        factory: this.#factory,
        limits: { maxPayloadBytes: options.maxPayloadBytes, maxCommandsPerFrame: options.maxCommandsPerFrame },
        heartbeatTimeoutMs: options.heartbeatTimeoutMs,
        readyDeadline: { ms, reason: `no welcome within connectTimeoutMs (${ms} ms)` },
        // channels left during the turn first: a subscribe still in the outbox is dropped instead of sent and undone
        beforeFlush: () => this.#parts.channels.leaveReleased(),
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
      const given = options.url;
      const urls = this.#urls;
      url = resolveUrl(urls !== undefined ? urls.current : typeof given === 'function' ? given() : (given as string));
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

  /** Forgets a link: its timers, requests and outbox; channels wait for the next connection. */
  #detach(link: Link): void {
    if (this.#link === link) this.#link = undefined;
    link.detach();
    clearTimeout(this.#stableTimer);
    this.#context.requests.detach(
      new UnisocketError(ErrorCode.UNAVAILABLE, 'the connection was lost before the server answered'),
    );
    this.#parts.channels.detached();
    this.#connectionId = null;
    this.#userId = null;
    this.#changed();
  }

  /** The connection ended (closed by the server, failed, or abandoned): decide whether and when to retry. */
  #lost(link: Link, code: number, reason: string, cause?: unknown): void {
    if (this.#link !== link) return;
    const wasReady = link.ready;
    if (code === CloseCode.TOO_LARGE) this.#parts.publishes.rejectLargest(link);
    this.#detach(link);
    const error = closeError(code, reason, cause ?? link.lastError);
    const { options, events } = this.#context;
    const reconnect = options.reconnect;
    let stop: ConnectionStatus | undefined;
    if (!this.#wanted || reconnect === false) stop = 'disconnected';
    else if (code === CloseCode.UNAUTHORIZED && options.getToken === undefined) stop = 'unauthorized';
    else if (code === CloseCode.POLICY) stop = 'disconnected';
    events.emit('disconnected', { code, reason, willReconnect: stop === undefined });
    if (stop !== undefined) {
      this.#stop(stop, error, error);
      return;
    }
    this.#lastError = error;
    // with several servers, the next attempt goes to the next one: a node that shut down or died is left behind
    this.#urls?.rotate();
    const backoff = reconnect === false ? DEFAULT_RECONNECT_OPTIONS : reconnect;
    // only a connection that was up gets shut down gracefully: a 1001 with advice before the welcome (a proxy, a
    // misbehaving server) takes the normal backoff, or an advised 0 would retry in a tight loop that never backs off
    const advised = code === CloseCode.GOING_AWAY && wasReady ? readReconnectAdvice(reason) : undefined;
    let delay: number;
    if (advised !== undefined) {
      // the server is shutting down and said when to come back (its own random delay for this client: the crowd
      // returns spread out); bounded by the client's own largest delay
      delay = Math.min(advised, backoff.maxDelayMs, MAX_ADVISED_DELAY_MS);
    } else if (code === CloseCode.GOING_AWAY && wasReady) {
      // the server is shutting down: come back promptly (another node, or the same after a restart), spread out
      delay = Math.floor(Math.random() * backoff.initialDelayMs);
    } else {
      this.#failures++;
      delay = backoffDelay(this.#failures, backoff);
    }
    this.#setStatus(
      code === CloseCode.UNAUTHORIZED ? 'unauthorized' : this.#everConnected ? 'reconnecting' : 'connecting',
    );
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
    this.#parts.publishes.rejectAll(reason);
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

  #changed(): void {
    this.#context.store.changed();
  }

  // ------------------------------------------------------------------------------------------------
  // frames, welcome, auth
  // ------------------------------------------------------------------------------------------------

  /** A frame of the current link (which recorded the `welcome`, watches the heartbeat and answered a `ping`). */
  #onFrame(link: Link, frame: ServerFrame): void {
    if (this.#link !== link) return;
    const { channels } = this.#parts;
    switch (frame.type) {
      case 'message':
        channels.message(frame);
        return;
      case 'ack':
        // an ack answers a command of ours, or nothing the client waits for
        this.#context.requests.ack(frame);
        return;
      case 'error': {
        const error = UnisocketError.fromFrame(frame);
        if (!this.#context.requests.refused(frame, error)) this.reportError(error);
        return;
      }
      case 'presence':
        channels.presence(frame);
        return;
      case 'resync':
        channels.resync(frame);
        return;
      case 'welcome':
        this.#onWelcome(link, frame);
        return;
      case 'refresh':
        this.#context.events.emit('refresh', { expiresAt: frame.expiresAt, graceMs: frame.graceMs });
        if (link.ready && this.#context.options.getToken !== undefined) this.#authenticate(link, 'refresh');
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
    const { token, getToken } = this.#context.options;
    if (token !== undefined || getToken !== undefined) this.#authenticate(link, 'connect');
    else this.#ready(link);
  }

  #authenticate(link: Link, purpose: 'connect' | 'refresh'): void {
    const { options, requests } = this.#context;
    let pending: string | Promise<string>;
    try {
      pending = options.token ?? options.getToken!();
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
            new UnisocketError(
              ErrorCode.UNAUTHORIZED,
              'getToken() must return a non-empty string (or a promise of one)',
            ),
          );
          return;
        }
        const ref = requests.nextRef();
        requests.add(
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
              const message = `no answer to auth within requestTimeoutMs (${options.requestTimeoutMs} ms)`;
              if (purpose === 'refresh') this.reportError(new UnisocketError(ErrorCode.UNAVAILABLE, message));
              else if (this.#link === link) link.abandon(message);
            },
          },
          options.requestTimeoutMs,
        );
        link.send([encodeCommand({ type: 'auth', token: value, ref })]);
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
      this.reportError(error);
      return;
    }
    this.#lastError = error;
    link.close(CloseCode.NORMAL, 'unauthorized');
    this.#lost(link, CloseCode.UNAUTHORIZED, error.message, error);
  }

  /** Welcomed and authenticated: resubscribe every channel from its position, then resend pending publishes. */
  #ready(link: Link): void {
    link.markReady();
    const { options, events, stats } = this.#context;
    const reconnected = this.#everConnected;
    if (reconnected) stats.reconnects++;
    this.#everConnected = true;
    this.#attempt = 0;
    this.#lastError = null;
    this.#setStatus('connected');
    this.#changed();
    const reconnect = options.reconnect;
    if (reconnect !== false) this.#stableTimer = setTimeout(() => (this.#failures = 0), reconnect.stableAfterMs);
    link.send([...this.#parts.channels.subscribeCommands(), ...this.#parts.publishes.sendOn(link)]);
    events.emit('connected', { connectionId: link.welcome!.connectionId, userId: this.#userId, reconnected });
    const waiters = this.#connectWaiters;
    this.#connectWaiters = [];
    for (const w of waiters) w.resolve();
  }
}
