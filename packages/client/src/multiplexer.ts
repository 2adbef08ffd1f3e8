import type {
  AckFrame,
  ChannelName,
  ClientCommand,
  ErrorFrame,
  MessageFrame,
  ServerFrame,
  WelcomeFrame,
} from '@unisocket/core/protocol';
import { CloseCode, channelKind } from '@unisocket/core/protocol';
import { encodeCommand } from './frames';
import { Link } from './link';
import { MuxChannel, type MuxChannelHost } from './mux-channel';
import type { TransportFactory, TransportLimits } from './transport';

/** Where the multiplexer delivers one virtual connection's frames. */
export interface VirtualSink {
  /** Frames for the virtual connection, in order. */
  frames(frames: ServerFrame[]): void;
  /** The virtual connection ended (the real one closed, or the multiplexer shut down). Called once. */
  close(code: number, reason: string): void;
}

/** Options of {@link Multiplexer}. */
export interface MultiplexerOptions {
  /** Opens the real connection. */
  factory: TransportFactory;
  /** Messages kept per channel, to bring a virtual connection that resubscribes up to date without asking the server. */
  replayBufferSize: number;
  /** How long the real connection stays open without virtual connections, in ms. */
  idleCloseMs: number;
}

interface Virtual {
  readonly id: string;
  readonly sink: VirtualSink;
  welcomed: boolean;
  closed: boolean;
  /** Frames waiting for the end of the turn. */
  outbox: ServerFrame[];
}

type Route =
  | { kind: 'forward'; vc: Virtual; ref: string | number; command: ClientCommand['type'] }
  | { kind: 'reply'; reply: (frame: AckFrame | ErrorFrame) => void }
  | { kind: 'internal' };

/**
 * One real connection shared by several virtual ones (the clients of the tabs of a browser, through the tab that
 * holds the connection). Each virtual connection speaks protocol v1 as if it had the server to itself: it gets a
 * `welcome`, its commands' replies (refs are rewritten on the way), the messages of the channels it holds — each
 * once, in order, from the position it subscribed at — and a close when the real connection ends.
 *
 * A channel is subscribed at the server once, whoever holds it, and left when the last holder leaves. A virtual
 * connection that subscribes with `since` to a channel the real connection already holds is served from the last
 * `replayBufferSize` messages when they cover its position, otherwise the server is asked to replay (and what the
 * other holders already have is not sent to them again).
 * @internal
 */
export class Multiplexer {
  readonly #options: MultiplexerOptions;
  readonly #virtuals = new Map<string, Virtual>();
  readonly #channels = new Map<ChannelName, MuxChannel<Virtual>>();
  readonly #routes = new Map<number, Route>();
  readonly #channelHost: MuxChannelHost<Virtual>;
  #link: Link | undefined;
  #limits: TransportLimits | undefined;
  #userId: string | null = null;
  #nextRef = 1;
  #deliverScheduled = false;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #shutdown = false;

  constructor(options: MultiplexerOptions) {
    this.#options = options;
    this.#channelHost = {
      replayBufferSize: options.replayBufferSize,
      deliver: (vc, frame) => this.#deliver(vc, frame),
      route: (reply) => {
        const ref = this.#nextRef++;
        this.#routes.set(ref, reply === undefined ? { kind: 'internal' } : { kind: 'reply', reply });
        return ref;
      },
      send: (command) => this.#send(command),
      evict: (vc, code, reason) => {
        this.#end(vc, code, reason);
        this.#forget(vc);
      },
      drop: (channel) => {
        if (this.#channels.get(channel.name) === channel) this.#channels.delete(channel.name);
      },
    };
  }

  /** The number of virtual connections. */
  get size(): number {
    return this.#virtuals.size;
  }

  /** `true` while the real connection is open and welcomed. */
  get connected(): boolean {
    return this.#link?.ready === true && !this.#link.closed;
  }

  /** Opens a virtual connection; its `welcome` follows once the real connection is up (opened if needed). */
  open(id: string, url: string, limits: TransportLimits, sink: VirtualSink): void {
    if (this.#shutdown) {
      sink.close(CloseCode.GOING_AWAY, 'this tab no longer holds the shared connection');
      return;
    }
    this.#virtuals.get(id)?.sink.close(CloseCode.GOING_AWAY, 'replaced');
    const vc: Virtual = { id, sink, welcomed: false, closed: false, outbox: [] };
    this.#virtuals.set(id, vc);
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    this.#limits ??= limits;
    const link = this.#link;
    if (link?.welcome !== undefined) this.#welcome(vc, link.welcome);
    else if (link === undefined) this.#connect(url, this.#limits);
  }

  /** Commands from a virtual connection. */
  command(id: string, commands: readonly ClientCommand[]): void {
    const vc = this.#virtuals.get(id);
    if (vc === undefined || !vc.welcomed) return;
    for (const cmd of commands) this.#command(vc, cmd);
  }

  /** The virtual connection is gone: it leaves its channels (the last holder's leave unsubscribes). */
  close(id: string): void {
    const vc = this.#virtuals.get(id);
    if (vc === undefined) return;
    this.#virtuals.delete(id);
    vc.closed = true;
    vc.outbox = [];
    this.#forget(vc);
    if (this.#virtuals.size === 0 && this.#link !== undefined) {
      clearTimeout(this.#idleTimer);
      this.#idleTimer = setTimeout(() => {
        this.#idleTimer = undefined;
        if (this.#virtuals.size === 0 && this.#link !== undefined)
          this.#closeLink(this.#link, CloseCode.NORMAL, 'no tab uses the connection');
      }, this.#options.idleCloseMs);
    }
  }

  /** Closes every virtual connection (with `code`) and the real one; later opens are refused. */
  shutdown(code: number, reason: string): void {
    this.#shutdown = true;
    clearTimeout(this.#idleTimer);
    if (this.#link !== undefined) this.#closeLink(this.#link, code, reason);
    for (const vc of [...this.#virtuals.values()]) this.#end(vc, code, reason);
  }

  // ------------------------------------------------------------------------------------------------
  // the real connection
  // ------------------------------------------------------------------------------------------------

  #connect(url: string, limits: TransportLimits): void {
    const link: Link = new Link(
      { factory: this.#options.factory, limits },
      { frame: (frame) => this.#onFrame(link, frame), closed: (code, reason) => this.#lost(link, code, reason) },
    );
    this.#link = link;
    link.open(url);
  }

  #closeLink(link: Link, code: number, reason: string): void {
    link.close(code, reason);
    this.#lost(link, code, reason);
  }

  /** The real connection ended: every virtual connection ends with it (its client reconnects and recovers). */
  #lost(link: Link, code: number, reason: string): void {
    if (this.#link !== link) return;
    this.#link = undefined;
    link.detach();
    this.#routes.clear();
    this.#userId = null;
    for (const ch of this.#channels.values()) if (!ch.lost()) this.#channels.delete(ch.name);
    for (const vc of [...this.#virtuals.values()]) this.#end(vc, code, reason);
  }

  #end(vc: Virtual, code: number, reason: string): void {
    this.#virtuals.delete(vc.id);
    if (vc.closed) return;
    vc.closed = true;
    // what the real connection delivered before it closed reaches the client before the close
    const pending = vc.outbox;
    vc.outbox = [];
    if (pending.length > 0) vc.sink.frames(pending);
    vc.sink.close(code, reason);
  }

  /** Queues a command on the real connection: what one turn queues goes out together, once welcomed. */
  #send(command: ClientCommand): void {
    this.#link?.enqueue(encodeCommand(command));
  }

  // ------------------------------------------------------------------------------------------------
  // inbound
  // ------------------------------------------------------------------------------------------------

  /** A frame of the real connection (its link recorded the `welcome`, watches the heartbeat and answered a `ping`). */
  #onFrame(link: Link, frame: ServerFrame): void {
    switch (frame.type) {
      case 'welcome':
        link.markReady();
        this.#userId = frame.userId ?? null;
        for (const vc of this.#virtuals.values()) if (!vc.welcomed) this.#welcome(vc, frame);
        return;
      case 'ping':
        // the clients judge the connection by what reaches them: pass the heartbeat on
        this.#toAll(frame);
        return;
      case 'pong':
        return;
      case 'ack':
      case 'error':
        this.#onReply(frame);
        return;
      case 'message':
        this.#onMessage(frame);
        return;
      case 'presence':
        this.#channels.get(frame.channel)?.presence(frame);
        return;
      case 'resync':
        this.#channels.get(frame.channel)?.resync(frame);
        return;
      default:
        // refresh, and frame types of later protocol versions: every client decides for itself
        this.#toAll(frame);
    }
  }

  #welcome(vc: Virtual, welcome: WelcomeFrame): void {
    vc.welcomed = true;
    this.#deliver(vc, { ...welcome, userId: this.#userId });
  }

  #toAll(frame: ServerFrame): void {
    for (const vc of this.#virtuals.values()) if (vc.welcomed) this.#deliver(vc, frame);
  }

  #onMessage(frame: MessageFrame): void {
    const ch = this.#channels.get(frame.channel);
    const kind = channelKind(frame.channel);
    if (kind === 'user' || frame.channel === '*') {
      // delivered without a subscription: every client hears of it (a holder below gets it once)
      for (const vc of this.#virtuals.values()) if (vc.welcomed && ch?.holds(vc) !== true) this.#deliver(vc, frame);
    }
    if (ch === undefined) {
      if (kind !== 'user' && frame.channel !== '*') this.#toAll(frame);
      return;
    }
    ch.message(frame);
  }

  #onReply(frame: AckFrame | ErrorFrame): void {
    const ref = frame.ref;
    const route = typeof ref === 'number' ? this.#routes.get(ref) : undefined;
    if (route === undefined) {
      // an error about no command of ours (a limit, a refused frame): every client hears of it
      if (frame.type === 'error' && ref === undefined) this.#toAll(frame);
      return;
    }
    this.#routes.delete(ref as number);
    switch (route.kind) {
      case 'internal':
        return;
      case 'forward':
        if (frame.type === 'ack' && route.command === 'auth' && frame.userId !== undefined) this.#userId = frame.userId;
        if (!route.vc.closed) this.#deliver(route.vc, { ...frame, ref: route.ref });
        return;
      case 'reply':
        route.reply(frame);
        return;
    }
  }

  // ------------------------------------------------------------------------------------------------
  // commands
  // ------------------------------------------------------------------------------------------------

  #command(vc: Virtual, cmd: ClientCommand): void {
    switch (cmd.type) {
      case 'pong':
      case 'ping':
        // the multiplexer answers the server's heartbeat itself
        return;
      case 'subscribe': {
        let ch = this.#channels.get(cmd.channel);
        if (ch === undefined) {
          ch = new MuxChannel(this.#channelHost, cmd.channel);
          this.#channels.set(cmd.channel, ch);
        }
        ch.subscribe(vc, cmd);
        return;
      }
      case 'unsubscribe': {
        this.#channels.get(cmd.channel)?.unsubscribe(vc);
        const ack: AckFrame = { type: 'ack', channel: cmd.channel };
        if (cmd.ref !== undefined) ack.ref = cmd.ref;
        this.#deliver(vc, ack);
        return;
      }
      default: {
        if (cmd.ref === undefined) {
          this.#send(cmd);
          return;
        }
        const ref = this.#nextRef++;
        this.#routes.set(ref, { kind: 'forward', vc, ref: cmd.ref, command: cmd.type });
        this.#send({ ...cmd, ref });
      }
    }
  }

  /** Forgets a virtual connection's holds and waiting subscribes. */
  #forget(vc: Virtual): void {
    for (const ch of [...this.#channels.values()]) ch.forget(vc);
  }

  // ------------------------------------------------------------------------------------------------
  // delivery: what one turn produces for a virtual connection goes out together, after the turn
  // ------------------------------------------------------------------------------------------------

  #deliver(vc: Virtual, frame: ServerFrame): void {
    if (vc.closed) return;
    vc.outbox.push(frame);
    if (this.#deliverScheduled) return;
    this.#deliverScheduled = true;
    queueMicrotask(() => {
      this.#deliverScheduled = false;
      for (const v of [...this.#virtuals.values()]) {
        if (v.outbox.length === 0 || v.closed) continue;
        const frames = v.outbox;
        v.outbox = [];
        v.sink.frames(frames);
      }
    });
  }
}
