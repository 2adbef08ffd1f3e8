import {
  type AckFrame,
  type ChannelName,
  ErrorCode,
  type MessageFrame,
  type PresenceEventFrame,
  type PresenceMember,
  type ResyncFrame,
  type StreamPosition,
  type SubscribeCommand,
  UnisocketError,
  channelKind,
} from '@unisocket/core/protocol';
import { type BackoffOptions, backoffDelay } from './backoff';
import type { ClientContext } from './context';
import { encodeCommand } from './frames';
import type { SubscriptionSink } from './subscription';
import type { OutgoingCommand } from './transport';
import type { ChannelMessage, ChannelSnapshot, ChannelStatus, GapInfo, PresenceChange } from './types';

/** Subscribe refusals that are retried with backoff (and on reconnect); the others stand until the next connection. */
const RETRYABLE_SUBSCRIBE_ERRORS = new Set<string>([ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE, ErrorCode.INTERNAL]);

/** The shortest wait before a refused subscribe is sent again, in ms. */
const MIN_RETRY_DELAY_MS = 50;

/** What a channel entry needs from the client holding it. @internal */
export interface ChannelHost extends Pick<ClientContext, 'requests' | 'events' | 'stats' | 'readyLink'> {
  /** The backoff a refused subscribe is retried with. */
  readonly retryBackoff: BackoffOptions;
  /** `true` while the client holds `entry` for its channel (not once it was left). */
  holds(entry: ChannelEntry): boolean;
  /** A channel's snapshot changed. */
  changed(): void;
}

interface Waiter {
  readonly sink: SubscriptionSink;
  readonly resolve: (snapshot: ChannelSnapshot) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * One channel the client holds: its position in the stream, its handles, and what happens to it — the subscribe (and
 * resubscribe from its position after a reconnect), the ack that recovers or reports a gap, the retry of a refused
 * subscribe, messages taken in offset order once each, presence, resync — and its snapshot, rebuilt only after a change.
 * @internal
 */
export class ChannelEntry {
  readonly sinks = new Set<SubscriptionSink>();
  status: ChannelStatus;
  epoch: string | null = null;
  offset: number | null = null;
  recovered: boolean | null = null;
  lastMessage: ChannelMessage | null = null;
  error: UnisocketError | null = null;
  /** The members of a presence channel; `null` for other kinds. */
  members: PresenceMember[] | null;

  readonly #host: ChannelHost;
  /** The `ref` of the subscribe in flight; messages are not accepted until its ack gives the position. */
  #ref: number | undefined = undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  #retryAttempt = 0;
  #waiters: Waiter[] = [];
  #snapshot: ChannelSnapshot | undefined = undefined;

  constructor(
    host: ChannelHost,
    readonly name: ChannelName,
    readonly token: string | undefined,
    since: StreamPosition | undefined,
  ) {
    this.#host = host;
    this.members = channelKind(name) === 'presence' ? [] : null;
    if (since !== undefined) {
      this.epoch = since.epoch;
      this.offset = since.offset;
    }
    this.status = since === undefined ? 'subscribing' : 'recovering';
  }

  /** The position to recover from, when the client has one. */
  get position(): StreamPosition | undefined {
    return this.epoch === null || this.offset === null ? undefined : { epoch: this.epoch, offset: this.offset };
  }

  /** The current snapshot: the same object until something in the channel changed. */
  snapshot(): ChannelSnapshot {
    return (this.#snapshot ??= Object.freeze({
      channel: this.name,
      status: this.status,
      epoch: this.epoch,
      offset: this.offset,
      recovered: this.recovered,
      lastMessage: this.lastMessage,
      error: this.error,
      members: this.members === null ? null : Object.freeze([...this.members]),
    }));
  }

  // ------------------------------------------------------------------------------------------------
  // the subscription at the server
  // ------------------------------------------------------------------------------------------------

  /** Subscribes now when commands flow (otherwise the next connection does, with {@link subscribeCommand}). */
  subscribeIfConnected(): void {
    this.#host.readyLink()?.enqueue(this.subscribeCommand());
  }

  /** The subscribe for the current connection: from the channel's position when it has one (recovery). */
  subscribeCommand(): OutgoingCommand {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const { requests } = this.#host;
    const ref = requests.nextRef();
    const since = this.position;
    const command: SubscribeCommand = { type: 'subscribe', channel: this.name, ref };
    if (since !== undefined) command.since = since;
    if (this.token !== undefined) command.token = this.token;
    this.#ref = ref;
    this.status = since === undefined ? 'subscribing' : 'recovering';
    this.#changed();
    requests.add(ref, {
      ack: (ack) => this.#subscribed(ref, since, ack),
      refused: (error) => this.#refused(ref, error),
    });
    return encodeCommand(command);
  }

  /** The connection ended: the channel waits for the next one, to resubscribe from its position. */
  detached(): void {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#ref = undefined;
    if (this.status !== 'error') this.status = this.position === undefined ? 'subscribing' : 'recovering';
    this.#changed();
  }

  /** The last handle left (and none came back within the turn): unsubscribe at the server. */
  leave(): void {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const { requests } = this.#host;
    const link = this.#host.readyLink();
    const ref = this.#ref;
    this.#ref = undefined;
    if (ref !== undefined) {
      // a subscribe in flight is answered for an entry the client no longer holds: its ack is ignored
      requests.delete(ref);
      // never sent: nothing to undo at the server
      if (link?.unqueue((out) => out.command.type === 'subscribe' && out.command.ref === ref) === true) return;
    }
    if (link !== undefined) {
      const unsubscribe = requests.nextRef();
      // a refusal (e.g. the personal channel cannot be left while authenticated) concerns nothing the app holds
      requests.add(unsubscribe, { ack: () => undefined, refused: () => undefined });
      link.enqueue(encodeCommand({ type: 'unsubscribe', channel: this.name, ref: unsubscribe }));
    }
  }

  #subscribed(ref: number, since: StreamPosition | undefined, ack: AckFrame): void {
    if (!this.#host.holds(this) || this.#ref !== ref) return;
    this.#ref = undefined;
    this.#retryAttempt = 0;
    this.status = 'subscribed';
    this.error = null;
    const epoch = ack.epoch ?? '';
    const offset = ack.offset ?? 0;
    let gap: GapInfo | undefined;
    if (since === undefined) {
      this.epoch = epoch;
      this.offset = offset;
    } else if (ack.recovered === true && ack.epoch === since.epoch) {
      // every message after `since` follows this ack, in order: keep the position so none is taken for a duplicate
      this.recovered = true;
    } else {
      this.epoch = epoch;
      this.offset = offset;
      this.recovered = false;
      gap = { channel: this.name, reason: 'not-recovered', previous: since, position: { epoch, offset } };
    }
    if (ack.members !== undefined && this.members !== null) this.members = [...ack.members];
    this.#changed();
    const waiters = this.#waiters;
    this.#waiters = [];
    const snapshot = this.snapshot();
    for (const w of waiters) w.resolve(snapshot);
    if (gap !== undefined) this.#gap(gap);
  }

  #refused(ref: number, error: UnisocketError): void {
    if (!this.#host.holds(this) || this.#ref !== ref) return;
    this.#ref = undefined;
    this.status = 'error';
    this.error = error;
    this.#changed();
    for (const sink of this.sinks) sink.emitter.emit('error', error);
    this.#host.events.emit('error', error);
    if (RETRYABLE_SUBSCRIBE_ERRORS.has(error.code)) {
      this.#retryAttempt++;
      this.#retryTimer = setTimeout(
        () => {
          this.#retryTimer = undefined;
          if (this.#host.holds(this) && this.#ref === undefined) this.subscribeIfConnected();
        },
        Math.max(MIN_RETRY_DELAY_MS, backoffDelay(this.#retryAttempt, this.#host.retryBackoff)),
      );
      return;
    }
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.reject(error);
  }

  // ------------------------------------------------------------------------------------------------
  // handles
  // ------------------------------------------------------------------------------------------------

  /**
   * Resolves once the server confirmed the subscription; rejects on a refusal for good, or when `sink`'s handle
   * unsubscribes first.
   */
  whenSubscribed(sink: SubscriptionSink): Promise<ChannelSnapshot> {
    if (!this.sinks.has(sink)) {
      return Promise.reject(new UnisocketError(ErrorCode.BAD_REQUEST, `this handle unsubscribed from "${this.name}"`));
    }
    if (this.status === 'subscribed') return Promise.resolve(this.snapshot());
    if (this.status === 'error' && this.error !== null && !RETRYABLE_SUBSCRIBE_ERRORS.has(this.error.code)) {
      return Promise.reject(this.error);
    }
    return new Promise((resolve, reject) => this.#waiters.push({ sink, resolve, reject }));
  }

  /** Removes a handle (its `whenSubscribed` promises reject); `false` when it was not one of this channel's. */
  release(sink: SubscriptionSink): boolean {
    if (!this.sinks.delete(sink)) return false;
    const unsubscribed = new UnisocketError(
      ErrorCode.UNAVAILABLE,
      `unsubscribed from "${this.name}" before the server confirmed it`,
    );
    this.#waiters = this.#waiters.filter((w) => {
      if (w.sink !== sink) return true;
      w.reject(unsubscribed);
      return false;
    });
    return true;
  }

  // ------------------------------------------------------------------------------------------------
  // inbound
  // ------------------------------------------------------------------------------------------------

  /**
   * A message of the channel. It is taken only while no subscribe is in flight (the ack, and any recovery replay
   * after it, cover what came before) and only past the last offset (the second guard against a duplicate; the
   * server already delivers each message once, in order).
   */
  message(frame: MessageFrame): void {
    if (this.#ref !== undefined || this.epoch === null) return;
    if (this.offset !== null && frame.offset <= this.offset) {
      this.#host.stats.duplicates++;
      return;
    }
    const message = Object.freeze(frame) as ChannelMessage;
    this.offset = frame.offset;
    this.lastMessage = message;
    this.#changed();
    this.#host.stats.messages++;
    for (const sink of this.sinks) sink.deliver(message);
    const { events } = this.#host;
    if (events.has('message')) events.emit('message', message);
  }

  /** A member joined or left (presence channels). */
  presence(frame: PresenceEventFrame): void {
    if (this.members === null || this.#ref !== undefined || frame.member === undefined) return;
    const userId = frame.member.userId;
    const existing = this.members.find((m) => m.userId === userId);
    // the server also announces the client's own join, which its subscribe ack already listed: not a change
    if (frame.action === 'join' ? existing !== undefined && sameMember(existing, frame.member) : existing === undefined)
      return;
    const others = this.members.filter((m) => m.userId !== userId);
    this.members = frame.action === 'join' ? [...others, frame.member] : others;
    this.#changed();
    const change: PresenceChange = {
      channel: this.name,
      action: frame.action,
      member: frame.member,
      members: this.snapshot().members ?? [],
    };
    for (const sink of this.sinks) sink.emitter.emit('presence', change);
    this.#host.events.emit('presence', change);
  }

  /** The members the server listed in answer to `client.presence()`. */
  membersListed(members: readonly PresenceMember[]): void {
    if (this.members === null || this.#ref !== undefined) return;
    this.members = [...members];
    this.#changed();
  }

  /** The server lost the channel's history while the client was subscribed: continue from its position, report a gap. */
  resync(frame: ResyncFrame): void {
    // while a subscribe is in flight its ack decides the position
    if (this.#ref !== undefined) return;
    const previous = this.position ?? null;
    this.epoch = frame.epoch;
    this.offset = frame.offset;
    this.recovered = false;
    this.#changed();
    this.#gap({
      channel: this.name,
      reason: 'resync',
      previous,
      position: { epoch: frame.epoch, offset: frame.offset },
    });
  }

  #gap(gap: GapInfo): void {
    this.#host.stats.gaps++;
    for (const sink of this.sinks) sink.emitter.emit('gap', gap);
    this.#host.events.emit('gap', gap);
  }

  #changed(): void {
    this.#snapshot = undefined;
    this.#host.changed();
  }
}

function sameMember(a: PresenceMember, b: PresenceMember): boolean {
  return a.userId === b.userId && (a.info === b.info || JSON.stringify(a.info) === JSON.stringify(b.info));
}
