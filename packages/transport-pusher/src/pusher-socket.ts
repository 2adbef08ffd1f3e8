import type {
  Connection,
  Hub,
  MaybePromise,
  PreparedBatch,
  ServerFrame,
  SubscribeContext,
  SubscribeGrant,
  TransportSocket,
} from '@unisocket/core';
import { WebSocket } from 'ws';
import { authorizeSubscribe, handleEvent } from './commands';
import type { AppNamespace } from './namespace';
import { pusherBatch } from './translate';

/** The parts of ws's internal Sender used to write frames prepared once for many sockets. */
interface SenderInternals {
  _state: number;
  _queue: unknown[];
  sendFrame(list: Buffer[], cb?: (error?: Error) => void): void;
}

/** Pusher's close codes: 4000–4099 the client does not reconnect, 4100–4199 it backs off, 4200–4299 it reconnects. */
export const PusherCloseCode = {
  /** The app key is unknown. */
  APP_NOT_FOUND: 4001,
  /** Over the connection quota (the server is overloaded). */
  OVER_QUOTA: 4004,
  /** The protocol version is not supported. */
  UNSUPPORTED_PROTOCOL: 4007,
  /** The connection is not authorized. */
  UNAUTHORIZED: 4009,
  /** Over capacity: reconnect after a back-off. */
  OVER_CAPACITY: 4100,
  /** Generic: reconnect at once (the server is restarting). */
  RECONNECT: 4200,
  /** No activity (no pong) within the activity timeout. */
  PONG_TIMEOUT: 4201,
  /** A client event was refused (an error, not a close). */
  CLIENT_EVENT_REFUSED: 4301,
} as const;

/** The Pusher close code for a close code the Hub closes with. */
export function pusherCloseCode(code: number): number {
  if (code >= 4000 && code < 4400 && code !== 4001 && code !== 4008 && code !== 4029) return code;
  switch (code) {
    case 4001: // unauthorized, token expired
    case 1008: // policy (origin)
      return PusherCloseCode.UNAUTHORIZED;
    case 4008: // slow consumer
    case 4029: // rate limit exceeded repeatedly
    case 4503: // overloaded
      return PusherCloseCode.OVER_CAPACITY;
    default: // 1000, 1001 (shutting down), 1011…: reconnect, possibly to another node
      return PusherCloseCode.RECONNECT;
  }
}

/** What a socket needs from its transport. @internal */
export interface PusherSocketOwner {
  readonly hub: Hub;
  readonly forceCloseMs: number;
  readonly activityTimeoutSec: number;
}

/**
 * One Pusher client socket: the `ws` WebSocket itself and the Hub's `TransportSocket`. Hub frames become Pusher
 * events: the `welcome` is `pusher:connection_established`; batches go out in their Pusher form, translated once per
 * batch ({@link pusherBatch}) and written to every Pusher subscriber as the same buffer.
 * @internal
 */
export class PusherSocket extends WebSocket implements TransportSocket {
  conn: Connection | undefined = undefined;
  owner: PusherSocketOwner | undefined = undefined;
  namespace: AppNamespace | undefined = undefined;
  /** Pusher's `socket_id`: `<digits>.<digits>`, unique per connection. */
  socketId = '';
  /** When the client last sent anything (epoch ms). */
  lastSeen = Date.now();
  /** When the server sent `pusher:ping` to a quiet client, `0` when it did not. */
  pingedAt = 0;
  /** Client-event tokens (refilled at the app's `clientEventsPerSecond`) and when they were refilled. */
  eventTokens = 0;
  eventsRefilledAt = 0;
  /** The presence user id per presence channel (Hub names), for the `user_id` of client events. */
  members: Map<string, string> | undefined = undefined;
  /**
   * The stream epoch per subscribed channel (Hub names), from the subscribe ack and `resync` lines: the epoch of the
   * positions (`"unisocket":{"epoch","offset"}`) written on the channel's events.
   */
  epochs: Map<string, string> | undefined = undefined;
  /** The Pusher user id after `pusher:signin`. */
  signedIn: string | undefined = undefined;
  forceTimer: NodeJS.Timeout | undefined = undefined;

  /**
   * The exclusion key of this socket: its `socket_id`. A client event it sends carries it, and so does a REST publish
   * naming it in `socket_id`: either skips this socket on whichever node the publish came from. Only the socket's own
   * client knows its `socket_id`; Pusher events never carry the key.
   */
  get exclusionKey(): string {
    return this.socketId;
  }

  /** Starts serving: the Hub's connection is `conn`. */
  serve(conn: Connection): void {
    this.conn = conn;
  }

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    // protocol errors (bad frames, over maxPayload): ws closes the socket itself, also before the Hub knows it
    if (event === 'error' && this.listenerCount('error') === 0) return true;
    const conn = this.conn;
    if (conn !== undefined) {
      switch (event) {
        case 'message':
          this.lastSeen = Date.now();
          this.pingedAt = 0;
          if (args[1] !== true) handleEvent(this, conn, (args[0] as Buffer).toString());
          return true;
        case 'pong':
          this.lastSeen = Date.now();
          return true;
        case 'close':
          if (this.forceTimer !== undefined) clearTimeout(this.forceTimer);
          this.owner!.hub.removeConnection(conn, args[0] as number, String(args[1] ?? ''));
          break;
      }
    }
    return super.emit(event, ...args);
  }

  get bufferedBytes(): number {
    return this.bufferedAmount;
  }

  onDrain(listener: () => void): void {
    (this as unknown as { _socket: NodeJS.EventEmitter | null })._socket?.on('drain', listener);
  }

  /** Authorization is the app's signature (see {@link authorizeSubscribe}), not the service's policy. */
  authorizeSubscribe(channel: string, context: SubscribeContext): MaybePromise<boolean | SubscribeGrant> {
    return authorizeSubscribe(this, channel, context);
  }

  /** Hub control frames: only the welcome has a Pusher form; acks and errors go to the commands' reply callbacks. */
  sendFrame(frame: ServerFrame): void {
    if (frame.type !== 'welcome' || this.readyState !== WebSocket.OPEN) return;
    const data = JSON.stringify({
      socket_id: this.socketId,
      activity_timeout: this.owner?.activityTimeoutSec ?? 120,
    });
    this.send(JSON.stringify({ event: 'pusher:connection_established', data }));
  }

  sendBatch(batch: PreparedBatch): void {
    if (this.readyState !== WebSocket.OPEN) return;
    const encoded = pusherBatch(batch, this.epochs?.get(batch.channel));
    if (encoded.resync !== undefined && this.epochs?.has(batch.channel)) this.epochs.set(batch.channel, encoded.resync);
    if (encoded.texts.length === 0) return;
    if (encoded.joined !== undefined) {
      // a presence batch announcing this socket's own member: everything but that announcement
      const me = this.members?.get(batch.channel);
      if (me !== undefined && encoded.joined.includes(me)) {
        for (let i = 0; i < encoded.texts.length; i++) if (encoded.joined[i] !== me) this.send(encoded.texts[i]!);
        return;
      }
    }
    const sender = (this as unknown as { _sender: SenderInternals })._sender;
    if (sender._state === 0 && sender._queue.length === 0) sender.sendFrame([encoded.frame]);
    else for (const text of encoded.texts) this.send(text);
  }

  /**
   * Sends one Pusher event. `data` is sent as given (the protocol's events carry objects or JSON strings);
   * `unisocket` is an extra top-level field (pusher-js reads only `event`, `channel`, `data` and `user_id`).
   */
  sendEvent(event: string, data: unknown, channel?: string, unisocket?: object): void {
    if (this.readyState !== WebSocket.OPEN) return;
    const frame: Record<string, unknown> = channel === undefined ? { event, data } : { event, channel, data };
    if (unisocket !== undefined) frame.unisocket = unisocket;
    this.send(JSON.stringify(frame));
  }

  /** Sends `pusher:error` with a Pusher code (`null` for an error that closes nothing). */
  sendError(code: number | null, message: string): void {
    this.sendEvent('pusher:error', { code, message });
  }

  /**
   * Closes with a Hub close code (mapped to the Pusher code pusher-js acts on: shutting down → 4200, reconnect), or
   * with a Pusher code (4000–4399) as it is; a `pusher:error` with the code and reason goes first.
   */
  override close(code?: number, reason?: string | Buffer): void {
    this.closeWith(pusherCloseCode(code ?? 1000), typeof reason === 'string' ? reason : '');
  }

  /** Closes with a Pusher close code as it is, after a `pusher:error` carrying it. */
  closeWith(pusherCode: number, reason: string): void {
    if (this.readyState === WebSocket.CLOSED) return;
    if (this.readyState === WebSocket.OPEN || this.readyState === WebSocket.CONNECTING) {
      const text = truncateReason(reason);
      if (this.readyState === WebSocket.OPEN) this.sendError(pusherCode, text);
      super.close(pusherCode, text);
    }
    if (this.forceTimer === undefined) {
      this.forceTimer = setTimeout(terminate, this.owner?.forceCloseMs ?? 5_000, this);
      this.forceTimer.unref();
    }
  }
}

function terminate(socket: PusherSocket): void {
  socket.terminate();
}

/** A close reason must fit in 123 bytes of UTF-8. */
export function truncateReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let out = reason.slice(0, 120);
  while (Buffer.byteLength(out) > 120) out = out.slice(0, -1);
  return `${out}...`;
}
