import {
  type AckFrame,
  type ChannelName,
  type ClientCommand,
  CloseCode,
  type MessageFrame,
  type PresenceMember,
  type ServerFrame,
  type StreamPosition,
  type SubscribeCommand,
  type WelcomeFrame,
  channelKind,
} from '@unisocket/core/protocol';
import { encodeCommand } from './frames';
import { Link } from './link';
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

interface SubscribeRequest {
  readonly vc: Virtual;
  readonly cmd: SubscribeCommand;
}

/** One channel as the real connection holds it, and which virtual connections hold it (with what they received). */
interface MuxChannel {
  readonly name: ChannelName;
  epoch: string | null;
  /** The last offset received on the real connection. */
  offset: number | null;
  /** The last messages, contiguous, ending at `offset`. */
  ring: MessageFrame[];
  members: PresenceMember[] | null;
  /** Virtual connections holding the channel → the offset each has received up to. */
  readonly holders: Map<Virtual, number>;
  /** Subscribes waiting for the real subscription (one server subscribe at a time per channel). */
  readonly queue: SubscribeRequest[];
  server: 'none' | 'subscribing' | 'live';
  /**
   * After a recovering subscribe: the offset the server's replay ends at. Until a message at it arrived the server
   * is still replaying (another subscribe of the channel would be refused as "in progress"), so subscribes that need
   * the server wait.
   */
  replayUntil: number | null;
  /** The offset of the last message received for the channel (a replayed one included). */
  lastReceived: number | null;
}

type Route =
  | { kind: 'forward'; vc: Virtual; ref: string | number; command: ClientCommand['type'] }
  | { kind: 'subscribe'; channel: MuxChannel; request: SubscribeRequest }
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
  readonly #channels = new Map<ChannelName, MuxChannel>();
  readonly #routes = new Map<number, Route>();
  #link: Link | undefined;
  #limits: TransportLimits | undefined;
  #userId: string | null = null;
  #nextRef = 1;
  #deliverScheduled = false;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #shutdown = false;

  constructor(options: MultiplexerOptions) {
    this.#options = options;
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
        if (this.#virtuals.size === 0 && this.#link !== undefined) this.#closeLink(this.#link, CloseCode.NORMAL, 'no tab uses the connection');
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
    for (const ch of this.#channels.values()) {
      ch.holders.clear();
      ch.queue.length = 0;
      ch.server = 'none';
      ch.replayUntil = null;
      // the ring still holds what was received: a resubscribe from inside it is served without a server replay
      if (ch.ring.length === 0) this.#channels.delete(ch.name);
    }
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
      case 'presence': {
        const ch = this.#channels.get(frame.channel);
        if (ch === undefined || frame.member === undefined) return;
        if (ch.members !== null) {
          const others = ch.members.filter((m) => m.userId !== frame.member.userId);
          ch.members = frame.action === 'join' ? [...others, frame.member] : others;
        }
        for (const vc of ch.holders.keys()) this.#deliver(vc, frame);
        return;
      }
      case 'resync': {
        const ch = this.#channels.get(frame.channel);
        if (ch === undefined) return;
        ch.epoch = frame.epoch;
        ch.offset = frame.offset;
        ch.ring = [];
        ch.replayUntil = null;
        for (const vc of ch.holders.keys()) {
          ch.holders.set(vc, frame.offset);
          this.#deliver(vc, frame);
        }
        return;
      }
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
      for (const vc of this.#virtuals.values()) if (vc.welcomed && ch?.holders.has(vc) !== true) this.#deliver(vc, frame);
    }
    if (ch === undefined) {
      if (kind !== 'user' && frame.channel !== '*') this.#toAll(frame);
      return;
    }
    const offset = frame.offset;
    ch.lastReceived = offset;
    for (const [vc, last] of ch.holders) {
      if (offset > last) {
        ch.holders.set(vc, offset);
        this.#deliver(vc, frame);
      }
    }
    if (ch.offset !== null && offset > ch.offset) {
      if (offset !== ch.offset + 1) ch.ring = [];
      ch.ring.push(frame);
      if (ch.ring.length > this.#options.replayBufferSize) ch.ring.shift();
      ch.offset = offset;
    }
    if (ch.replayUntil !== null && offset >= ch.replayUntil) {
      ch.replayUntil = null;
      this.#process(ch);
    }
  }

  #onReply(frame: AckFrame | Extract<ServerFrame, { type: 'error' }>): void {
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
      case 'subscribe':
        if (frame.type === 'ack') this.#subscribed(route.channel, route.request, frame);
        else this.#refused(route.channel, route.request, frame);
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
          ch = {
            name: cmd.channel,
            epoch: null,
            offset: null,
            ring: [],
            members: channelKind(cmd.channel) === 'presence' ? [] : null,
            holders: new Map(),
            queue: [],
            server: 'none',
            replayUntil: null,
            lastReceived: null,
          };
          this.#channels.set(cmd.channel, ch);
        }
        // a repeated subscribe (a resubscribe with `since`) replaces what the connection held
        ch.holders.delete(vc);
        const queued = ch.queue.findIndex((r) => r.vc === vc);
        if (queued !== -1) ch.queue.splice(queued, 1);
        ch.queue.push({ vc, cmd });
        this.#process(ch);
        return;
      }
      case 'unsubscribe': {
        const ch = this.#channels.get(cmd.channel);
        if (ch !== undefined) {
          ch.holders.delete(vc);
          const queued = ch.queue.findIndex((r) => r.vc === vc);
          if (queued !== -1) ch.queue.splice(queued, 1);
          this.#process(ch);
        }
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

  /** Moves a channel along: serves waiting subscribes from what is held, asks the server, or leaves. */
  #process(ch: MuxChannel): void {
    if (ch.server === 'subscribing') return;
    while (ch.queue.length > 0) {
      const request = ch.queue[0]!;
      if (request.vc.closed || (ch.server === 'live' && this.#serveLocally(ch, request))) {
        ch.queue.shift();
        continue;
      }
      // the server is still replaying for an earlier subscribe: ask it once that is done
      if (ch.server === 'live' && ch.replayUntil !== null) return;
      ch.queue.shift();
      this.#subscribeAtServer(ch, request);
      return;
    }
    if (ch.server === 'live' && ch.holders.size === 0) {
      ch.server = 'none';
      const ref = this.#nextRef++;
      this.#routes.set(ref, { kind: 'internal' });
      this.#send({ type: 'unsubscribe', channel: ch.name, ref });
      if (ch.ring.length === 0) this.#channels.delete(ch.name);
    }
  }

  /** A subscribe to a channel the real connection holds: answered here when what is held covers its position. */
  #serveLocally(ch: MuxChannel, { vc, cmd }: SubscribeRequest): boolean {
    const epoch = ch.epoch;
    const offset = ch.offset;
    if (epoch === null || offset === null) return false;
    const since = cmd.since;
    const ack: AckFrame = { type: 'ack', channel: ch.name, epoch, offset };
    if (cmd.ref !== undefined) ack.ref = cmd.ref;
    if (ch.members !== null) ack.members = [...ch.members];
    if (since === undefined) {
      ch.holders.set(vc, offset);
      this.#deliver(vc, ack);
      return true;
    }
    if (since.epoch !== epoch) return false;
    if (since.offset >= offset) {
      // at (or ahead of) this connection: what follows reaches it live, past its position
      ack.recovered = true;
      ack.offset = since.offset;
      ch.holders.set(vc, since.offset);
      this.#deliver(vc, ack);
      return true;
    }
    const first = ch.ring[0];
    if (first === undefined || first.offset > since.offset + 1) return false;
    ack.recovered = true;
    this.#deliver(vc, ack);
    for (const message of ch.ring) if (message.offset > since.offset) this.#deliver(vc, message);
    ch.holders.set(vc, offset);
    return true;
  }

  #subscribeAtServer(ch: MuxChannel, request: SubscribeRequest): void {
    ch.server = 'subscribing';
    const ref = this.#nextRef++;
    this.#routes.set(ref, { kind: 'subscribe', channel: ch, request });
    const { cmd } = request;
    const command: SubscribeCommand = { type: 'subscribe', channel: ch.name, ref };
    if (cmd.since !== undefined) command.since = cmd.since;
    if (cmd.token !== undefined) command.token = cmd.token;
    this.#send(command);
  }

  #subscribed(ch: MuxChannel, { vc, cmd }: SubscribeRequest, ack: AckFrame): void {
    ch.server = 'live';
    const epoch = ack.epoch ?? '';
    const ackOffset = ack.offset ?? 0;
    const since: StreamPosition | undefined = cmd.since;
    let start: number;
    if (since !== undefined && ack.recovered === true) {
      // every message after `since` follows: the ring continues only if nothing lies between it and `since`
      if (ch.epoch !== epoch || ch.offset === null || ch.offset < since.offset) {
        ch.ring = [];
        ch.offset = since.offset;
      }
      start = since.offset;
    } else {
      if (ch.epoch !== epoch || ch.offset !== ackOffset) ch.ring = [];
      // holders the connection kept through a server resubscribe that did not recover may have missed messages
      for (const [holder, last] of ch.holders) {
        if (ch.epoch !== epoch || last < ackOffset) {
          ch.holders.set(holder, ackOffset);
          this.#deliver(holder, { type: 'resync', channel: ch.name, epoch, offset: ackOffset });
        }
      }
      ch.offset = ackOffset;
      start = ackOffset;
    }
    ch.epoch = epoch;
    if (ack.members !== undefined && ch.members !== null) ch.members = [...ack.members];
    if (ack.recovered === true && since !== undefined && typeof ack.offset === 'number' && ack.offset > since.offset) {
      ch.replayUntil = ack.offset;
    }
    if (!vc.closed) {
      ch.holders.set(vc, start);
      const reply: AckFrame = { ...ack };
      if (cmd.ref === undefined) delete reply.ref;
      else reply.ref = cmd.ref;
      this.#deliver(vc, reply);
    }
    this.#process(ch);
  }

  #refused(ch: MuxChannel, { vc, cmd }: SubscribeRequest, error: Extract<ServerFrame, { type: 'error' }>): void {
    ch.server = 'none';
    if (ch.holders.size > 0) {
      // a resubscribe of a held channel was refused (the authorization changed): the server may have ended the
      // connection's subscription. The holders' clients cannot know: end their connections, so they reconnect and
      // resubscribe each channel from its position (and hear of the refusal themselves).
      const holders = [...ch.holders.keys()];
      ch.holders.clear();
      for (const holder of holders) {
        this.#end(holder, CloseCode.GOING_AWAY, `the shared subscription to "${ch.name}" was refused`);
        this.#forget(holder);
      }
    }
    if (!vc.closed) {
      const reply = { ...error };
      if (cmd.ref === undefined) delete reply.ref;
      else reply.ref = cmd.ref;
      this.#deliver(vc, reply);
    }
    this.#process(ch);
    if (ch.server === 'none' && ch.holders.size === 0 && ch.queue.length === 0 && ch.ring.length === 0) {
      this.#channels.delete(ch.name);
    }
  }

  /** Forgets a virtual connection's holds and waiting subscribes. */
  #forget(vc: Virtual): void {
    for (const ch of [...this.#channels.values()]) {
      const held = ch.holders.delete(vc);
      const before = ch.queue.length;
      for (let i = ch.queue.length - 1; i >= 0; i--) if (ch.queue[i]!.vc === vc) ch.queue.splice(i, 1);
      if (held || ch.queue.length !== before) this.#process(ch);
    }
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
