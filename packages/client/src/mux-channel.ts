import {
  type AckFrame,
  type ChannelName,
  type ClientCommand,
  CloseCode,
  type ErrorFrame,
  type MessageFrame,
  type PresenceEventFrame,
  type PresenceMember,
  type ResyncFrame,
  type ServerFrame,
  type StreamPosition,
  type SubscribeCommand,
  channelKind,
} from '@unisocket/core/protocol';

/** A virtual connection, as the channels it holds see it. */
export interface ChannelHolder {
  readonly closed: boolean;
}

/** A subscribe from a virtual connection, waiting for its turn. */
interface SubscribeRequest<V> {
  readonly vc: V;
  readonly cmd: SubscribeCommand;
}

/** What a {@link MuxChannel} needs from its multiplexer. */
export interface MuxChannelHost<V extends ChannelHolder> {
  /** Messages kept per channel, to serve a resubscribe without asking the server. */
  readonly replayBufferSize: number;
  /** Queues a frame for a virtual connection. */
  deliver(vc: V, frame: ServerFrame): void;
  /** A ref for a command to the server; the server's reply goes to `reply` (none: it is ignored). */
  route(reply?: (frame: AckFrame | ErrorFrame) => void): number;
  /** Sends a command on the real connection. */
  send(command: ClientCommand): void;
  /** Ends a virtual connection and forgets what it holds in every channel (its client reconnects and resubscribes). */
  evict(vc: V, code: number, reason: string): void;
  /** The channel holds nothing any more: forget it. */
  drop(channel: MuxChannel<V>): void;
}

/**
 * One channel as the real connection holds it: its position, the last messages (contiguous, ending at `offset`), its
 * members, and which virtual connections hold it with the offset each has received up to. It subscribes at the server
 * once whoever holds it (one server subscribe at a time), serves a subscribe from what it holds when that covers the
 * subscriber's position, and leaves with the last holder.
 * @internal
 */
export class MuxChannel<V extends ChannelHolder> {
  epoch: string | null = null;
  /** The last offset received on the real connection. */
  offset: number | null = null;
  /** The last messages, contiguous, ending at `offset`. */
  ring: MessageFrame[] = [];
  members: PresenceMember[] | null;
  /** Virtual connections holding the channel → the offset each has received up to. */
  readonly #holders = new Map<V, number>();
  /** Subscribes waiting for the real subscription. */
  readonly #queue: SubscribeRequest<V>[] = [];
  #server: 'none' | 'subscribing' | 'live' = 'none';
  /**
   * After a recovering subscribe: the offset the server's replay ends at. Until a message at it arrived the server
   * is still replaying (another subscribe of the channel would be refused as "in progress"), so subscribes that need
   * the server wait.
   */
  #replayUntil: number | null = null;
  readonly #host: MuxChannelHost<V>;

  constructor(
    host: MuxChannelHost<V>,
    readonly name: ChannelName,
  ) {
    this.#host = host;
    this.members = channelKind(name) === 'presence' ? [] : null;
  }

  /** `true` when `vc` holds the channel. */
  holds(vc: V): boolean {
    return this.#holders.has(vc);
  }

  /** A subscribe from `vc`; a repeated one (a resubscribe with `since`) replaces what it held. */
  subscribe(vc: V, cmd: SubscribeCommand): void {
    this.#holders.delete(vc);
    const queued = this.#queue.findIndex((r) => r.vc === vc);
    if (queued !== -1) this.#queue.splice(queued, 1);
    this.#queue.push({ vc, cmd });
    this.#process();
  }

  /** `vc` unsubscribes (the last holder's leave unsubscribes at the server). */
  unsubscribe(vc: V): void {
    this.#holders.delete(vc);
    const queued = this.#queue.findIndex((r) => r.vc === vc);
    if (queued !== -1) this.#queue.splice(queued, 1);
    this.#process();
  }

  /** `vc` is gone: forget its hold and its waiting subscribes. */
  forget(vc: V): void {
    const held = this.#holders.delete(vc);
    const before = this.#queue.length;
    for (let i = this.#queue.length - 1; i >= 0; i--) if (this.#queue[i]!.vc === vc) this.#queue.splice(i, 1);
    if (held || this.#queue.length !== before) this.#process();
  }

  /** The real connection ended: nothing is held. Returns `true` when the channel is worth keeping (its messages). */
  lost(): boolean {
    this.#holders.clear();
    this.#queue.length = 0;
    this.#server = 'none';
    this.#replayUntil = null;
    // the ring still holds what was received: a resubscribe from inside it is served without a server replay
    return this.ring.length > 0;
  }

  /** A message: to every holder not past it, and into the ring. */
  message(frame: MessageFrame): void {
    const offset = frame.offset;
    for (const [vc, last] of this.#holders) {
      if (offset > last) {
        this.#holders.set(vc, offset);
        this.#host.deliver(vc, frame);
      }
    }
    if (this.offset !== null && offset > this.offset) {
      if (offset !== this.offset + 1) this.ring = [];
      this.ring.push(frame);
      if (this.ring.length > this.#host.replayBufferSize) this.ring.shift();
      this.offset = offset;
    }
    if (this.#replayUntil !== null && offset >= this.#replayUntil) {
      this.#replayUntil = null;
      this.#process();
    }
  }

  /** A member joined or left: kept in `members`, passed to the holders. */
  presence(frame: PresenceEventFrame): void {
    if (frame.member === undefined) return;
    if (this.members !== null) {
      const others = this.members.filter((m) => m.userId !== frame.member.userId);
      this.members = frame.action === 'join' ? [...others, frame.member] : others;
    }
    for (const vc of this.#holders.keys()) this.#host.deliver(vc, frame);
  }

  /** The server lost the channel's history: every holder continues from the new position. */
  resync(frame: ResyncFrame): void {
    this.epoch = frame.epoch;
    this.offset = frame.offset;
    this.ring = [];
    this.#replayUntil = null;
    for (const vc of this.#holders.keys()) {
      this.#holders.set(vc, frame.offset);
      this.#host.deliver(vc, frame);
    }
  }

  /** Moves the channel along: serves waiting subscribes from what is held, asks the server, or leaves. */
  #process(): void {
    if (this.#server === 'subscribing') return;
    while (this.#queue.length > 0) {
      const request = this.#queue[0]!;
      if (request.vc.closed || (this.#server === 'live' && this.#serveLocally(request))) {
        this.#queue.shift();
        continue;
      }
      // the server is still replaying for an earlier subscribe: ask it once that is done
      if (this.#server === 'live' && this.#replayUntil !== null) return;
      this.#queue.shift();
      this.#subscribeAtServer(request);
      return;
    }
    if (this.#server === 'live' && this.#holders.size === 0) {
      this.#server = 'none';
      this.#host.send({ type: 'unsubscribe', channel: this.name, ref: this.#host.route() });
      if (this.ring.length === 0) this.#host.drop(this);
    }
  }

  /** A subscribe to a channel the real connection holds: answered here when what is held covers its position. */
  #serveLocally({ vc, cmd }: SubscribeRequest<V>): boolean {
    const epoch = this.epoch;
    const offset = this.offset;
    if (epoch === null || offset === null) return false;
    const since = cmd.since;
    const ack: AckFrame = { type: 'ack', channel: this.name, epoch, offset };
    if (cmd.ref !== undefined) ack.ref = cmd.ref;
    if (this.members !== null) ack.members = [...this.members];
    if (since === undefined) {
      this.#holders.set(vc, offset);
      this.#host.deliver(vc, ack);
      return true;
    }
    if (since.epoch !== epoch) return false;
    if (since.offset >= offset) {
      // at (or ahead of) this connection: what follows reaches it live, past its position
      ack.recovered = true;
      ack.offset = since.offset;
      this.#holders.set(vc, since.offset);
      this.#host.deliver(vc, ack);
      return true;
    }
    const first = this.ring[0];
    if (first === undefined || first.offset > since.offset + 1) return false;
    ack.recovered = true;
    this.#host.deliver(vc, ack);
    for (const message of this.ring) if (message.offset > since.offset) this.#host.deliver(vc, message);
    this.#holders.set(vc, offset);
    return true;
  }

  #subscribeAtServer(request: SubscribeRequest<V>): void {
    this.#server = 'subscribing';
    const ref = this.#host.route((reply) =>
      reply.type === 'ack' ? this.#subscribed(request, reply) : this.#refused(request, reply),
    );
    const { cmd } = request;
    const command: SubscribeCommand = { type: 'subscribe', channel: this.name, ref };
    if (cmd.since !== undefined) command.since = cmd.since;
    if (cmd.token !== undefined) command.token = cmd.token;
    this.#host.send(command);
  }

  #subscribed({ vc, cmd }: SubscribeRequest<V>, ack: AckFrame): void {
    this.#server = 'live';
    const epoch = ack.epoch ?? '';
    const ackOffset = ack.offset ?? 0;
    const since: StreamPosition | undefined = cmd.since;
    let start: number;
    if (since !== undefined && ack.recovered === true) {
      // every message after `since` follows: the ring continues only if nothing lies between it and `since`
      if (this.epoch !== epoch || this.offset === null || this.offset < since.offset) {
        this.ring = [];
        this.offset = since.offset;
      }
      start = since.offset;
    } else {
      if (this.epoch !== epoch || this.offset !== ackOffset) this.ring = [];
      // holders the connection kept through a server resubscribe that did not recover may have missed messages
      for (const [holder, last] of this.#holders) {
        if (this.epoch !== epoch || last < ackOffset) {
          this.#holders.set(holder, ackOffset);
          this.#host.deliver(holder, { type: 'resync', channel: this.name, epoch, offset: ackOffset });
        }
      }
      this.offset = ackOffset;
      start = ackOffset;
    }
    this.epoch = epoch;
    if (ack.members !== undefined && this.members !== null) this.members = [...ack.members];
    if (ack.recovered === true && since !== undefined && typeof ack.offset === 'number' && ack.offset > since.offset) {
      this.#replayUntil = ack.offset;
    }
    if (!vc.closed) {
      this.#holders.set(vc, start);
      const reply: AckFrame = { ...ack };
      if (cmd.ref === undefined) delete reply.ref;
      else reply.ref = cmd.ref;
      this.#host.deliver(vc, reply);
    }
    this.#process();
  }

  #refused({ vc, cmd }: SubscribeRequest<V>, error: ErrorFrame): void {
    this.#server = 'none';
    if (this.#holders.size > 0) {
      // a resubscribe of a held channel was refused (the authorization changed): the server may have ended the
      // connection's subscription. The holders' clients cannot know: end their connections, so they reconnect and
      // resubscribe each channel from its position (and hear of the refusal themselves).
      const holders = [...this.#holders.keys()];
      this.#holders.clear();
      for (const holder of holders)
        this.#host.evict(holder, CloseCode.GOING_AWAY, `the shared subscription to "${this.name}" was refused`);
    }
    if (!vc.closed) {
      const reply = { ...error };
      if (cmd.ref === undefined) delete reply.ref;
      else reply.ref = cmd.ref;
      this.#host.deliver(vc, reply);
    }
    this.#process();
    if (this.#server === 'none' && this.#holders.size === 0 && this.#queue.length === 0 && this.ring.length === 0) {
      this.#host.drop(this);
    }
  }
}
