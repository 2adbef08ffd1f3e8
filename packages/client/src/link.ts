import { CloseCode, type ServerFrame, type WelcomeFrame } from '@unisocket/core/protocol';
import { encodeCommand } from './frames';
import type { OutgoingCommand, Transport, TransportFactory, TransportHandlers, TransportLimits } from './transport';

type Timer = ReturnType<typeof setTimeout>;

/** The close code a link sends when it gives up on a connection (timeouts): in the range applications may use. */
export const CLIENT_GIVING_UP = 4000;

/** The heartbeat the server announces when its `welcome` does not say. */
const DEFAULT_SERVER_HEARTBEAT_MS = 25_000;

const PONG = encodeCommand({ type: 'pong' });

/** What a {@link Link} reports to its owner. Nothing is reported after the owner called `close()` or `detach()`. */
export interface LinkEvents {
  /**
   * A server frame, in order. The link has already recorded the first `welcome` (a repeated one is dropped) and
   * answered a `ping` with `pong`.
   */
  frame(frame: ServerFrame): void;
  /**
   * The connection ended: the transport closed, opening it failed, or the link gave up on it (silent past its
   * heartbeat deadline, or not ready in time: reported as 1006). Called at most once.
   */
  closed(code: number, reason: string): void;
  /** Opening the transport threw or rejected. Without this handler it is reported as `closed(1006, message)`. */
  openFailed?(error: unknown): void;
}

/** Options of {@link Link}. */
export interface LinkOptions {
  factory: TransportFactory;
  limits: TransportLimits;
  /** Silence after which the link gives up, in ms. Default: twice the `welcome`'s `heartbeatMs` plus 1 s. */
  heartbeatTimeoutMs?: number | undefined;
  /** Give up unless {@link Link.markReady} is called within `ms`, closing with `reason`. */
  readyDeadline?: { ms: number; reason: string } | undefined;
  /** Called when the outbox is about to go out (commands queued in the same turn may still be dropped then). */
  beforeFlush?: (() => void) | undefined;
}

/**
 * One connection attempt and, once it succeeds, the connection: it opens the transport, holds the frames a transport
 * reports before its factory returned, answers the server's `ping`, gives up on a connection that went silent
 * (a heartbeat deadline from the `welcome`), and batches what one turn of the event loop queues into one send once the
 * owner marked it ready. The client and the multiplexer of a shared connection each drive their connection with one.
 * @internal
 */
export class Link {
  /** The transport, once its factory returned. */
  transport: Transport | undefined = undefined;
  /** The server's first `welcome`. */
  welcome: WelcomeFrame | undefined = undefined;
  /** Set by the owner ({@link markReady}): queued commands flow. */
  ready = false;
  /** Closed, detached or ended: the link reports nothing more. */
  closed = false;
  /** The last error the transport reported (the likely cause of the close that follows). */
  lastError: Error | undefined = undefined;

  readonly #options: LinkOptions;
  readonly #events: LinkEvents;
  #early: ServerFrame[] | undefined;
  #lastInbound = Date.now();
  #heartbeatTimer: Timer | undefined;
  #readyTimer: Timer | undefined;
  #outbox: OutgoingCommand[] = [];
  #flushScheduled = false;

  constructor(options: LinkOptions, events: LinkEvents) {
    this.#options = options;
    this.#events = events;
  }

  /** Opens the transport to `url`. Whatever happens is reported through the events (also synchronously, from here). */
  open(url: string): void {
    const deadline = this.#options.readyDeadline;
    if (deadline !== undefined) this.#readyTimer = setTimeout(() => this.abandon(deadline.reason), deadline.ms);
    const handlers: TransportHandlers = {
      onOpen: () => undefined,
      onFrame: (frame) => {
        if (this.closed) return;
        // a transport that reports frames before its factory returned: hold them until there is a transport to answer on
        if (this.transport === undefined) (this.#early ??= []).push(frame);
        else this.#onFrame(frame);
      },
      onClose: (code, reason) => {
        if (this.closed) return;
        this.detach();
        this.#events.closed(code, reason);
      },
      onError: (error) => {
        if (!this.closed) this.lastError = error;
      },
    };
    let opened: Transport | Promise<Transport>;
    try {
      opened = this.#options.factory(url, handlers, this.#options.limits);
    } catch (error) {
      this.#openFailed(error);
      return;
    }
    Promise.resolve(opened).then(
      (transport) => {
        if (this.closed) {
          transport.close(CloseCode.NORMAL, 'superseded');
          return;
        }
        this.transport = transport;
        const early = this.#early;
        this.#early = undefined;
        if (early !== undefined) for (const frame of early) if (!this.closed) this.#onFrame(frame);
      },
      (error: unknown) => this.#openFailed(error),
    );
  }

  /** Commands flow from now on; the ready deadline no longer applies. */
  markReady(): void {
    this.ready = true;
    clearTimeout(this.#readyTimer);
  }

  /** Sends commands now, in one call to the transport (nothing once closed). */
  send(commands: readonly OutgoingCommand[]): void {
    if (!this.closed) this.transport?.send(commands);
  }

  /** Queues a command; what one turn queues goes out in one send, if the link is ready by then. */
  enqueue(command: OutgoingCommand): void {
    this.#outbox.push(command);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    queueMicrotask(() => {
      this.#flushScheduled = false;
      this.#options.beforeFlush?.();
      const out = this.#outbox;
      this.#outbox = [];
      if (out.length > 0 && this.ready && !this.closed) this.transport?.send(out);
    });
  }

  /** Takes the first queued command matching `match` out of the outbox; `true` when there was one. */
  unqueue(match: (command: OutgoingCommand) => boolean): boolean {
    const index = this.#outbox.findIndex(match);
    if (index === -1) return false;
    this.#outbox.splice(index, 1);
    return true;
  }

  /** Stops everything without closing the transport (it closed itself, or the owner closes it): no more events. */
  detach(): void {
    this.closed = true;
    clearTimeout(this.#readyTimer);
    clearTimeout(this.#heartbeatTimer);
    this.#outbox = [];
    this.#early = undefined;
  }

  /** Closes the transport with `code` and `reason`, and detaches: no more events. */
  close(code: number, reason: string): void {
    this.detach();
    this.transport?.close(code, reason);
  }

  /** Gives up on the connection (silent, or not ready in time): closes it and reports `closed(1006, reason)`. */
  abandon(reason: string): void {
    if (this.closed) return;
    this.close(CLIENT_GIVING_UP, reason.slice(0, 100));
    this.#events.closed(1006, reason);
  }

  #openFailed(error: unknown): void {
    if (this.closed) return;
    this.detach();
    if (this.#events.openFailed !== undefined) this.#events.openFailed(error);
    else this.#events.closed(1006, error instanceof Error ? error.message : String(error));
  }

  #onFrame(frame: ServerFrame): void {
    this.#lastInbound = Date.now();
    if (frame.type === 'welcome') {
      if (this.welcome !== undefined) return;
      this.welcome = frame;
      const heartbeatMs =
        typeof frame.heartbeatMs === 'number' && frame.heartbeatMs > 0
          ? frame.heartbeatMs
          : DEFAULT_SERVER_HEARTBEAT_MS;
      this.#armHeartbeat(this.#options.heartbeatTimeoutMs ?? heartbeatMs * 2 + 1_000);
    } else if (frame.type === 'ping') {
      this.transport?.send([PONG]);
    }
    this.#events.frame(frame);
  }

  #armHeartbeat(timeoutMs: number, delay = timeoutMs): void {
    this.#heartbeatTimer = setTimeout(() => {
      if (this.closed) return;
      const silent = Date.now() - this.#lastInbound;
      if (silent >= timeoutMs) this.abandon(`nothing received for ${silent} ms (heartbeat timeout)`);
      else this.#armHeartbeat(timeoutMs, timeoutMs - silent);
    }, delay);
  }
}
