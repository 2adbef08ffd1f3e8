import type { ChannelName, StreamPosition } from '@unisocket/core/protocol';
import type { GapInfo } from './types';

/*
 * unisocket's recovery for pusher-js and Laravel Echo clients of unisocket's Pusher transport. Structural types
 * only: nothing here imports pusher-js, so the client package does not depend on it.
 *
 * The wire, all of it ignored by a plain pusher-js (it reads only `event`, `channel`, `data` and `user_id`):
 * - every channel event carries its stream position as an extra top-level field, `"unisocket":{"epoch","offset"}`;
 * - `pusher_internal:subscription_succeeded` carries where the subscription starts, `"unisocket":{"epoch","offset"}`,
 *   and with `since` also `"recovered":true|false`;
 * - `pusher:subscribe` takes an optional `"since":{"epoch","offset"}` in its data: the server replays what the
 *   channel published after it, exactly once and in order, then live (`recovered:true`), or says `recovered:false`.
 */

/** The event emitter shape pusher-js uses (`bind`/`unbind`). */
export interface PusherDispatcherLike {
  bind(event: string, callback: (...args: never[]) => void): unknown;
  unbind(event: string, callback?: (...args: never[]) => void): unknown;
}

/** What the helper uses of a pusher-js `Pusher`: its connection manager and `send_event`. */
export interface PusherLike {
  connection: PusherDispatcherLike & {
    state: string;
    /** pusher-js's current protocol connection, and under it the transport that receives the raw messages. */
    connection?: { transport?: PusherDispatcherLike | null } | null;
  };
  send_event(event: string, data: unknown, channel?: string): boolean;
}

/** A Laravel Echo instance with the `pusher` (or `reverb`) broadcaster: its connector holds the pusher-js client. */
export interface EchoLike {
  connector: { pusher: PusherLike };
}

/** Where one channel stands, as the helper tracks it. */
export interface PusherChannelRecovery {
  readonly channel: ChannelName;
  /** The position of the last event received (or where the subscription started), `null` before the first. */
  readonly position: StreamPosition | null;
  /**
   * The outcome of the last resubscribe with `since`: `true` every missed event followed (exactly once, in order),
   * `false` they could not be (see {@link PusherRecoveryOptions.onGap}); `null` when nothing was to be recovered.
   */
  readonly recovered: boolean | null;
}

export interface PusherRecoveryOptions {
  /** Called when a resubscribe could not recover what was missed, or the channel's stream restarted. */
  onGap?: (gap: GapInfo) => void;
  /** Called after each resubscribe with `since` whose missed events all follow. */
  onRecovered?: (channel: ChannelName, since: StreamPosition) => void;
}

/** The handle {@link recoverPusher} returns. */
export interface PusherRecovery {
  /** One channel's state, or `undefined` for a channel the helper has seen nothing of. */
  channel(name: ChannelName): PusherChannelRecovery | undefined;
  /** Every tracked channel. */
  channels(): PusherChannelRecovery[];
  /** Adds a gap listener; returns its removal. */
  onGap(listener: (gap: GapInfo) => void): () => void;
  /** Restores pusher-js as it was and stops tracking. */
  dispose(): void;
}

interface ChannelState {
  epoch: string | null;
  offset: number | null;
  recovered: boolean | null;
  /** The `since` of the subscribe in flight, `undefined` when none was sent. */
  since: StreamPosition | undefined;
}

interface Position {
  epoch?: unknown;
  offset?: unknown;
  recovered?: unknown;
}

const MARK = '"unisocket":';

/**
 * Gives a pusher-js client (or a Laravel Echo instance) unisocket's recovery: it tracks the stream position of every
 * channel from the events it receives, and when pusher-js resubscribes after a reconnect it asks for what the channel
 * published in between (`since`). The events missed arrive exactly once, in order, before the live ones, through the
 * channel's usual bindings; when history no longer covers the gap, `onGap` says so. Apply it right after creating the
 * client. Against a server without the extension (Pusher itself) nothing changes: no positions, no `since`.
 */
export function recoverPusher(client: PusherLike | EchoLike, options: PusherRecoveryOptions = {}): PusherRecovery {
  const pusher = 'connector' in client ? client.connector.pusher : client;
  const manager = pusher.connection;
  const states = new Map<ChannelName, ChannelState>();
  const gapListeners = new Set<(gap: GapInfo) => void>();
  if (options.onGap !== undefined) gapListeners.add(options.onGap);
  const hooked = new WeakSet<object>();
  const hadOwnSend = Object.hasOwn(pusher, 'send_event');
  const ownSend = pusher.send_event;
  const send = pusher.send_event.bind(pusher);

  const gap = (info: GapInfo): void => {
    for (const listener of [...gapListeners]) listener(info);
  };

  const onPosition = (event: string, channel: string, position: Position): void => {
    if (typeof position.epoch !== 'string' || typeof position.offset !== 'number') return;
    const at: StreamPosition = { epoch: position.epoch, offset: position.offset };
    const state = states.get(channel);
    // not a channel pusher-js subscribed here, or one it has unsubscribed since
    if (state === undefined) return;
    if (event === 'pusher_internal:subscription_succeeded') {
      const since = state.since;
      state.since = undefined;
      if (since === undefined) {
        state.recovered = null;
      } else if (position.recovered === true) {
        // the replay follows: the position advances with it
        state.recovered = true;
        options.onRecovered?.(channel, since);
        return;
      } else {
        state.recovered = false;
        gap({ channel, reason: 'not-recovered', previous: since, position: at });
      }
      state.epoch = at.epoch;
      state.offset = at.offset;
      return;
    }
    if (event.startsWith('pusher')) return;
    if (state.epoch === at.epoch) {
      if (state.offset !== null && at.offset <= state.offset) return;
    } else if (state.epoch !== null) {
      // the stream restarted (the server lost its history): what came before the restart is gone
      gap({
        channel,
        reason: 'resync',
        previous: { epoch: state.epoch, offset: state.offset ?? 0 },
        position: { epoch: at.epoch, offset: at.offset - 1 },
      });
    }
    state.epoch = at.epoch;
    state.offset = at.offset;
  };

  const fresh = (channel: ChannelName): ChannelState => {
    const state: ChannelState = { epoch: null, offset: null, recovered: null, since: undefined };
    states.set(channel, state);
    return state;
  };

  const onRaw = (message: { data?: unknown }): void => {
    const text = message?.data;
    if (typeof text !== 'string' || !text.includes(MARK)) return;
    let event: { event?: unknown; channel?: unknown; unisocket?: unknown };
    try {
      event = JSON.parse(text) as typeof event;
    } catch {
      return;
    }
    if (typeof event.event !== 'string' || typeof event.channel !== 'string') return;
    if (typeof event.unisocket !== 'object' || event.unisocket === null) return;
    onPosition(event.event, event.channel, event.unisocket as Position);
  };

  /** Listens to the raw messages of pusher-js's current transport (pusher-js keeps only its own fields). */
  const hook = (): void => {
    const transport = manager.connection?.transport;
    if (transport === undefined || transport === null || hooked.has(transport)) return;
    hooked.add(transport);
    transport.bind('message', onRaw);
  };

  pusher.send_event = (event: string, data: unknown, channel?: string): boolean => {
    if (event === 'pusher:subscribe' && typeof data === 'object' && data !== null) {
      const name = (data as { channel?: unknown }).channel;
      if (typeof name === 'string') {
        const state = states.get(name) ?? fresh(name);
        if (state.epoch !== null && state.offset !== null) {
          const since = { epoch: state.epoch, offset: state.offset };
          state.since = since;
          return send(event, { ...data, since }, channel);
        }
        state.since = undefined;
      }
    } else if (event === 'pusher:unsubscribe' && typeof data === 'object' && data !== null) {
      // a later subscribe to the channel is a new subscription: it starts from now
      const name = (data as { channel?: unknown }).channel;
      if (typeof name === 'string') states.delete(name);
    }
    return send(event, data, channel);
  };
  manager.bind('connected', hook);
  if (manager.state === 'connected') hook();

  return {
    channel(name) {
      const state = states.get(name);
      return state === undefined ? undefined : snapshot(name, state);
    },
    channels() {
      return [...states].map(([name, state]) => snapshot(name, state));
    },
    onGap(listener) {
      gapListeners.add(listener);
      return () => gapListeners.delete(listener);
    },
    dispose() {
      manager.unbind('connected', hook);
      manager.connection?.transport?.unbind('message', onRaw);
      if (hadOwnSend) pusher.send_event = ownSend;
      else delete (pusher as { send_event?: unknown }).send_event;
      states.clear();
      gapListeners.clear();
    },
  };
}

function snapshot(channel: ChannelName, state: ChannelState): PusherChannelRecovery {
  return {
    channel,
    position: state.epoch === null || state.offset === null ? null : { epoch: state.epoch, offset: state.offset },
    recovered: state.recovered,
  };
}
