import type {
  ChannelName,
  MessageFrame,
  PresenceEventFrame,
  PresenceMember,
  ResyncFrame,
} from '@unisocket/core/protocol';
import { ErrorCode, UnisocketError, channelKind, isValidChannelName } from '@unisocket/core/protocol';
import { DEFAULT_RECONNECT_OPTIONS } from './options';
import { ChannelEntry, type ChannelHost } from './channel';
import type { ClientContext } from './context';
import { safeCall } from './emitter';
import { encodeCommand } from './frames';
import { type SubscribeOptions, Subscription, type SubscriptionHost, SubscriptionSink } from './subscription';
import type { OutgoingCommand } from './transport';
import type { ChannelMessage, ChannelSnapshot, EventMap, ExternalStore } from './types';

/**
 * The channels a client holds, by name, and their handles. The last handle's leave waits for the end of the turn: a
 * handle that comes straight back (a React StrictMode effect re-run, a component re-keyed in the same commit) takes
 * the subscription over — position, last message and the server subscription — instead of leaving and rejoining.
 * @internal
 */
export class ChannelRegistry implements SubscriptionHost {
  readonly #context: ClientContext;
  readonly #host: ChannelHost;
  readonly #channels = new Map<ChannelName, ChannelEntry>();
  /** Channels whose last handle left during this turn; the server unsubscribe waits for a microtask. */
  readonly #released = new Map<ChannelName, ChannelEntry>();
  #releaseScheduled = false;

  constructor(context: ClientContext) {
    this.#context = context;
    const { reconnect } = context.options;
    this.#host = {
      requests: context.requests,
      events: context.events,
      stats: context.stats,
      readyLink: () => context.readyLink(),
      retryBackoff: reconnect === false ? DEFAULT_RECONNECT_OPTIONS : reconnect,
      holds: (entry) => this.#channels.get(entry.name) === entry,
      changed: () => context.store.channelsChanged(),
    };
  }

  /** The names of the channels held. */
  names(): ChannelName[] {
    return [...this.#channels.keys()];
  }

  /** The snapshots of the channels held. */
  *snapshots(): Iterable<ChannelSnapshot> {
    for (const entry of this.#channels.values()) yield entry.snapshot();
  }

  /** A handle on `channel`, taking the channel (and subscribing at the server) if no handle holds it yet. */
  subscribe<TEvents extends EventMap>(channel: ChannelName, options: SubscribeOptions<TEvents>): Subscription<TEvents> {
    if (!isValidChannelName(channel)) {
      throw new UnisocketError(
        ErrorCode.BAD_REQUEST,
        `invalid channel name ${JSON.stringify(String(channel)).slice(0, 60)}: use 1-200 characters of [A-Za-z0-9_.:=@-] (broadcasts on "*" arrive without a subscription: listen with client.on('message'))`,
      );
    }
    let entry = this.#channels.get(channel);
    if (entry === undefined) {
      entry = this.#released.get(channel);
      if (entry !== undefined) {
        // left and taken again within one turn: nothing went to the server
        this.#released.delete(channel);
        this.#channels.set(channel, entry);
        // its snapshot is unchanged: the channel record (and so the client snapshot) keeps its identity
        this.#context.store.channelsChanged();
      } else {
        entry = new ChannelEntry(this.#host, channel, options.token, options.since);
        this.#channels.set(channel, entry);
        this.#context.store.channelsChanged();
        entry.subscribeIfConnected();
      }
    }
    const sink = new SubscriptionSink();
    entry.sinks.add(sink);
    const sub = new Subscription<TEvents>(channel, sink, this);
    if (options.events !== undefined) {
      for (const [event, handler] of Object.entries(options.events)) {
        if (typeof handler === 'function') sub.on(event as keyof TEvents & string, handler as never);
      }
    }
    if (options.onMessage !== undefined) sub.onMessage(options.onMessage);
    if (options.onGap !== undefined) sub.onGap(options.onGap);
    if (options.onPresence !== undefined) sub.onPresence(options.onPresence);
    const { onJoin, onLeave } = options;
    if (onJoin !== undefined || onLeave !== undefined) {
      sub.onPresence((change) => {
        if (change.action === 'join') onJoin?.(change.member, change.members);
        else onLeave?.(change.member, change.members);
      });
    }
    if (options.onError !== undefined) {
      sub.onError(options.onError);
      // a refusal that came before this handle existed
      if (entry.status === 'error' && entry.error !== null) safeCall(options.onError, entry.error);
    }
    return sub;
  }

  /** A handle unsubscribed; with the last one the channel is left at the end of the turn. */
  release(channel: ChannelName, sink: SubscriptionSink): void {
    const entry = this.#channels.get(channel);
    if (entry === undefined || !entry.release(sink) || entry.sinks.size > 0) return;
    this.#channels.delete(channel);
    this.#released.set(channel, entry);
    this.#context.store.channelsChanged();
    if (this.#releaseScheduled) return;
    this.#releaseScheduled = true;
    queueMicrotask(() => this.leaveReleased());
  }

  /** Leaves, at the server, the channels whose last handle left during this turn and did not come back. */
  leaveReleased(): void {
    this.#releaseScheduled = false;
    if (this.#released.size === 0) return;
    const released = [...this.#released.values()];
    this.#released.clear();
    for (const left of released) left.leave();
  }

  channelStore(channel: ChannelName): ExternalStore<ChannelSnapshot> {
    return this.#context.store.channelStore(channel);
  }

  whenSubscribed(channel: ChannelName, sink: SubscriptionSink): Promise<ChannelSnapshot> {
    const entry = this.#channels.get(channel);
    if (entry === undefined) {
      return Promise.reject(new UnisocketError(ErrorCode.BAD_REQUEST, `this handle unsubscribed from "${channel}"`));
    }
    return entry.whenSubscribed(sink);
  }

  /** The subscribes that open a connection: every channel, from its position. */
  subscribeCommands(): OutgoingCommand[] {
    return [...this.#channels.values()].map((entry) => entry.subscribeCommand());
  }

  /** The connection ended: every channel waits for the next one. */
  detached(): void {
    for (const entry of this.#channels.values()) entry.detached();
  }

  /** A `message` frame: to its channel, or (`*` broadcasts, channels without a handle) to `client.on('message')`. */
  message(frame: MessageFrame): void {
    const entry = this.#channels.get(frame.channel);
    if (entry !== undefined) {
      entry.message(frame);
      return;
    }
    // `*` broadcasts and channels the app did not subscribe to (its personal `user:` channel)
    this.#context.stats.messages++;
    const { events } = this.#context;
    if (events.has('message')) events.emit('message', Object.freeze(frame) as ChannelMessage);
  }

  presence(frame: PresenceEventFrame): void {
    this.#channels.get(frame.channel)?.presence(frame);
  }

  resync(frame: ResyncFrame): void {
    this.#channels.get(frame.channel)?.resync(frame);
  }

  /** Asks the server for the members of a presence channel, and refreshes them in its snapshot (`client.presence`). */
  members(channel: ChannelName): Promise<PresenceMember[]> {
    if (!isValidChannelName(channel) || channelKind(channel) !== 'presence') {
      return Promise.reject(
        new UnisocketError(
          ErrorCode.BAD_REQUEST,
          `"${String(channel).slice(0, 60)}" is not a presence channel (presence channels start with "presence-")`,
        ),
      );
    }
    const link = this.#context.readyLink();
    if (link === undefined) {
      return Promise.reject(
        new UnisocketError(ErrorCode.UNAVAILABLE, 'not connected: await client.connect() first', { channel }),
      );
    }
    const { requests, options } = this.#context;
    return new Promise((resolve, reject) => {
      const ref = requests.nextRef();
      requests.add(
        ref,
        {
          ack: (ack) => {
            const members = ack.members ?? [];
            this.#channels.get(channel)?.membersListed(members);
            resolve(members);
          },
          refused: reject,
          timedOut: () =>
            reject(
              new UnisocketError(
                ErrorCode.UNAVAILABLE,
                `no answer within requestTimeoutMs (${options.requestTimeoutMs} ms)`,
                { channel },
              ),
            ),
          detached: (lost) => {
            reject(lost);
          },
        },
        options.requestTimeoutMs,
      );
      link.enqueue(encodeCommand({ type: 'presence', channel, ref }));
    });
  }
}
