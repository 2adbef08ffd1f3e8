import type { ChannelName, PresenceMember, StreamPosition, UnisocketError } from '@unisocket/core/protocol';
import { Emitter, type Unsubscribe } from './emitter';
import type {
  AnyChannelMessage,
  ChannelMessage,
  ChannelSnapshot,
  ChannelStatus,
  EventHandler,
  EventMap,
  ExternalStore,
  GapInfo,
  PresenceChange,
} from './types';

/** Handlers by event name: each gets the event's data (typed by `TEvents`) and the whole message. */
export type ChannelHandlers<TEvents extends EventMap = EventMap> = {
  [K in keyof TEvents & string]?: EventHandler<TEvents, K>;
};

/** Callbacks for what happens on one channel. */
export interface ChannelCallbacks<TEvents extends EventMap = EventMap> {
  /** Called for every message of the channel (the catch-all). */
  onMessage?: (message: AnyChannelMessage<TEvents>) => void;
  /** Called when the channel missed messages (refetch what it represents). */
  onGap?: (gap: GapInfo) => void;
  /** Called when a member joins or leaves (presence channels). */
  onPresence?: (change: PresenceChange) => void;
  /** Called when a member joins (presence channels), with the members after the change. */
  onJoin?: (member: PresenceMember, members: readonly PresenceMember[]) => void;
  /** Called when a member leaves (presence channels), with the members after the change. */
  onLeave?: (member: PresenceMember, members: readonly PresenceMember[]) => void;
  /** Called when the server refuses the subscription. */
  onError?: (error: UnisocketError) => void;
}

/** Handlers and options of `client.subscribe(channel, options)`. */
export interface SubscribeOptions<TEvents extends EventMap = EventMap> extends ChannelCallbacks<TEvents> {
  /** Handlers by event name. */
  events?: ChannelHandlers<TEvents>;
  /**
   * Start from a stored position instead of "now": every message after it is replayed if the server's history still
   * has it (otherwise `onGap` is called). Ignored when the client already holds the channel.
   */
  since?: StreamPosition;
  /** A subscription token for `private-`/`presence-` channels, when the server authorizes with them. */
  token?: string;
}

/** What {@link liveCallbacks} reads at each event. */
export interface LiveListeners<TEvents extends EventMap = EventMap> {
  handlers?: ChannelHandlers<TEvents> | undefined;
  callbacks?: ChannelCallbacks<TEvents> | undefined;
}

/**
 * Subscribe callbacks that, at each event, call what `current()` returns then: the handler of the message's event,
 * then the matching callbacks. For UI bindings, whose handlers change between renders without a resubscribe:
 * `client.subscribe(channel, { since, ...liveCallbacks(() => latest) })`.
 */
export function liveCallbacks<TEvents extends EventMap = EventMap>(
  current: () => LiveListeners<TEvents> | undefined,
): Required<Pick<ChannelCallbacks<TEvents>, 'onMessage' | 'onGap' | 'onPresence' | 'onError'>> {
  return {
    onMessage: (message) => {
      const live = current();
      const handler = live?.handlers?.[message.event] as ((data: unknown, message: unknown) => void) | undefined;
      if (typeof handler === 'function') handler(message.data, message);
      live?.callbacks?.onMessage?.(message);
    },
    onGap: (gap) => current()?.callbacks?.onGap?.(gap),
    onError: (error) => current()?.callbacks?.onError?.(error),
    onPresence: (change) => {
      const callbacks = current()?.callbacks;
      callbacks?.onPresence?.(change);
      if (change.action === 'join') callbacks?.onJoin?.(change.member, change.members);
      else callbacks?.onLeave?.(change.member, change.members);
    },
  };
}

type SinkEvents = {
  message: [message: ChannelMessage];
  gap: [gap: GapInfo];
  presence: [change: PresenceChange];
  error: [error: UnisocketError];
};

/**
 * One subscription handle's listeners. The client delivers into it; the handle adds to it.
 * @internal
 */
export class SubscriptionSink {
  readonly emitter = new Emitter<SinkEvents>();
  /** Handlers by event name: each gets the message's data and the message. */
  readonly byEvent = new Emitter<Record<string, [data: unknown, message: ChannelMessage]>>();

  deliver(message: ChannelMessage): void {
    this.byEvent.emit(message.event, message.data, message);
    this.emitter.emit('message', message);
  }
}

/** What a handle needs from its client. @internal */
export interface SubscriptionHost {
  release(channel: ChannelName, sink: SubscriptionSink): void;
  channelStore(channel: ChannelName): ExternalStore<ChannelSnapshot>;
  whenSubscribed(channel: ChannelName, sink: SubscriptionSink): Promise<ChannelSnapshot>;
}

/**
 * A handle on a channel subscription, from `client.subscribe(channel)`. Several handles may hold the same channel
 * (one server subscription); the channel is left when the last handle unsubscribes.
 *
 * It is also a store (`subscribe(listener)` / `getSnapshot()`) of its channel's {@link ChannelSnapshot}.
 *
 * @example
 * ```ts
 * const chat = client.subscribe<{ say: { text: string } }>('chat');
 * chat.on('say', (data) => console.log(data.text));
 * chat.onGap(() => refetchHistory());
 * ```
 */
export class Subscription<TEvents extends EventMap = EventMap> implements ExternalStore<ChannelSnapshot> {
  /** The channel name. */
  readonly channel: ChannelName;
  readonly #sink: SubscriptionSink;
  readonly #host: SubscriptionHost;
  readonly #store: ExternalStore<ChannelSnapshot>;
  #closed = false;

  /** @internal created by `client.subscribe` */
  constructor(channel: ChannelName, sink: SubscriptionSink, host: SubscriptionHost) {
    this.channel = channel;
    this.#sink = sink;
    this.#host = host;
    this.#store = host.channelStore(channel);
  }

  /** Calls `handler` with the data of every `event` message; returns the function that removes it. */
  on<K extends keyof TEvents & string>(event: K, handler: EventHandler<TEvents, K>): Unsubscribe {
    return this.#sink.byEvent.on(event, handler as (data: unknown, message: ChannelMessage) => void);
  }

  /** Calls `handler` for every message of the channel; returns the function that removes it. */
  onMessage(handler: (message: AnyChannelMessage<TEvents>) => void): Unsubscribe {
    return this.#sink.emitter.on('message', handler as (message: ChannelMessage) => void);
  }

  /** Calls `handler` when the channel missed messages; returns the function that removes it. */
  onGap(handler: (gap: GapInfo) => void): Unsubscribe {
    return this.#sink.emitter.on('gap', handler);
  }

  /** Calls `handler` when a member joins or leaves (presence channels); returns the function that removes it. */
  onPresence(handler: (change: PresenceChange) => void): Unsubscribe {
    return this.#sink.emitter.on('presence', handler);
  }

  /** Calls `handler` when the server refuses the subscription; returns the function that removes it. */
  onError(handler: (error: UnisocketError) => void): Unsubscribe {
    return this.#sink.emitter.on('error', handler);
  }

  /** The channel's status (`unsubscribed` once this handle unsubscribed). */
  get status(): ChannelStatus {
    return this.getSnapshot().status;
  }

  /** The channel's stream position (save it to resume later with `subscribe(channel, { since })`). */
  get position(): StreamPosition | null {
    const { epoch, offset } = this.getSnapshot();
    return epoch === null || offset === null ? null : { epoch, offset };
  }

  /** The members of a presence channel (`null` for other channels). */
  get members(): readonly PresenceMember[] | null {
    return this.getSnapshot().members;
  }

  /** `true` once {@link unsubscribe} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Resolves once the server confirmed the subscription (at once if it already has). Rejects when the server refuses
   * it for good (`FORBIDDEN`, `UNAUTHORIZED`…) or the handle unsubscribes first.
   */
  whenSubscribed(): Promise<ChannelSnapshot> {
    return this.#host.whenSubscribed(this.channel, this.#sink);
  }

  /** Store contract: called after the channel's snapshot changed. */
  subscribe(listener: () => void): Unsubscribe {
    return this.#store.subscribe(listener);
  }

  /** Store contract: the channel's current snapshot. */
  getSnapshot(): ChannelSnapshot {
    return this.#closed ? unsubscribedSnapshot(this.channel, this) : this.#store.getSnapshot();
  }

  /** Removes this handle and its handlers; the channel is left when no handle holds it. Idempotent. */
  unsubscribe(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#sink.emitter.clear();
    this.#sink.byEvent.clear();
    this.#host.release(this.channel, this.#sink);
  }
}

const unsubscribedSnapshots = new WeakMap<object, ChannelSnapshot>();

/** The snapshot of a channel the client does not hold, stable per `owner` (so its identity never changes). */
export function unsubscribedSnapshot(channel: ChannelName, owner: object): ChannelSnapshot {
  let snapshot = unsubscribedSnapshots.get(owner);
  if (snapshot === undefined) {
    snapshot = Object.freeze({
      channel,
      status: 'unsubscribed',
      epoch: null,
      offset: null,
      recovered: null,
      lastMessage: null,
      error: null,
      members: null,
    });
    unsubscribedSnapshots.set(owner, snapshot);
  }
  return snapshot;
}
