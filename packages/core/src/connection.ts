import type { Backlog } from './backpressure';
import type { SubscriptionList } from './channel-state';
import type { ChannelName, ClientCommand, ConnectionId, ServerFrame, UserId } from './protocol/types';

/** Which transport a connection uses. */
export type TransportKind = 'native' | 'socketio' | (string & {});

/**
 * A batch of message lines for one channel, prepared once per flush and written to every subscriber.
 * Transports cache their encoding of it (a WebSocket frame, a Socket.IO packet) in {@link encoded} so it is
 * built once per batch, never per subscriber.
 */
export class PreparedBatch {
  /** Per-transport encodings, filled lazily by the transports. */
  readonly encoded: Record<string, unknown> = {};
  /** @internal `coalesce-latest` keys of the lines, computed once when a subscriber is backed up */
  keys: (string | number | undefined)[] | undefined = undefined;
  /** @internal UTF-8 sizes of the lines, computed once when a subscriber is backed up */
  lineBytes: number[] | undefined = undefined;
  #text: string | undefined;
  #bytes = -1;

  constructor(
    readonly channel: ChannelName,
    /** The JSON text of each frame in the batch. */
    readonly lines: readonly string[],
  ) {}

  /** The number of frames in the batch. */
  get count(): number {
    return this.lines.length;
  }

  /** The batch as one text frame: the lines joined with `\n`. */
  get text(): string {
    return (this.#text ??= this.lines.length === 1 ? this.lines[0]! : this.lines.join('\n'));
  }

  /** The UTF-8 size of {@link text}. Transports that encode the text set it to avoid measuring twice. */
  get byteLength(): number {
    if (this.#bytes < 0) this.#bytes = Buffer.byteLength(this.text);
    return this.#bytes;
  }

  set byteLength(bytes: number) {
    this.#bytes = bytes;
  }
}

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

/**
 * One client on one transport. Created by the Hub ({@link Hub.addConnection}); transports keep it to pass
 * inbound frames on. Application code reads it in hooks (`authorizeChannel(conn, channel)`).
 */
export class Connection {
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
  held: [ClientCommand, ((frame: ServerFrame) => void) | undefined][] | undefined = undefined;

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
