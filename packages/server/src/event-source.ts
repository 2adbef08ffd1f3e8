import { type ChannelName, type MaybePromise, checkChannelName, checkEventName, isPromiseLike } from '@unisocket/core';

/** Anything with Node's `EventEmitter` listener methods. */
export interface EmitterLike {
  on(event: string | symbol, listener: (...args: unknown[]) => void): unknown;
  off?(event: string | symbol, listener: (...args: unknown[]) => void): unknown;
  removeListener?(event: string | symbol, listener: (...args: unknown[]) => void): unknown;
}

/** Options of {@link connectEmitter}. */
export interface ConnectEmitterOptions {
  /** The channel the events are published on (one channel per category of events). */
  channel: ChannelName;
  /**
   * The emitter events to forward. An array forwards each under its own name; an object maps emitter event names
   * to message event names (`{ 'retry-started': 'retry.started' }`).
   */
  events: readonly string[] | Readonly<Record<string, string>>;
  /**
   * Turns an emitted event's arguments into the message `data`.
   * @default the first argument (`emitter.emit('x', a, b)` publishes `a`; `b` is ignored — pass
   *   `data: (event, args) => args` to publish them all as an array)
   */
  data?: (event: string, args: unknown[]) => unknown;
  /**
   * Publishes that may be in flight at once (waiting for an asynchronous broker). Events beyond it are dropped and
   * counted, never queued.
   * @default 1_000
   */
  maxInFlight?: number;
  /** Called for each dropped event (not publishable, or over `maxInFlight`), after it is counted. */
  onDrop?: (error: Error, event: string) => void;
}

/** What {@link connectEmitter} publishes through: a service, or anything with a compatible `publish`. */
export interface EventSink {
  publish(channel: ChannelName, event: string, data: unknown): MaybePromise<unknown>;
  /** Counts a dropped event (the service counts them as drops with reason `event_source`). */
  recordDrop?(reason: string): void;
}

/** Disconnects an event source: removes its listeners. Idempotent. */
export type DisconnectEmitter = () => void;

/**
 * Streams an `EventEmitter`'s events to a channel: each listed event becomes a message with that event name and
 * the first argument as `data` (see {@link ConnectEmitterOptions.data}). Bounded: an event that cannot be published
 * (invalid data, broker unavailable, more than `maxInFlight` waiting) is dropped and counted, never queued.
 *
 * Listing `'error'` forwards the emitter's `error` events too — and, being a listener, keeps them from throwing.
 *
 * @returns a function that removes the listeners
 * @throws {TypeError} for an invalid channel or event list
 */
export function connectEmitter(
  sink: EventSink,
  emitter: EmitterLike,
  options: ConnectEmitterOptions,
): DisconnectEmitter {
  if (emitter === null || typeof emitter !== 'object' || typeof emitter.on !== 'function') {
    throw new TypeError('connectEmitter(emitter, options): emitter must be an EventEmitter (with on/off)');
  }
  if (typeof emitter.off !== 'function' && typeof emitter.removeListener !== 'function') {
    throw new TypeError('connectEmitter: the emitter needs off() or removeListener() so it can be disconnected');
  }
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('connectEmitter(emitter, options): options must be { channel, events }');
  }
  const { channel } = options;
  const badChannel = checkChannelName(channel, { field: 'channel', broadcast: true });
  if (badChannel !== undefined) throw new TypeError(`connectEmitter: ${badChannel}`);
  const pairs: [string, string][] = Array.isArray(options.events)
    ? (options.events as readonly string[]).map((e) => [e, e])
    : typeof options.events === 'object' && options.events !== null
      ? Object.entries(options.events as Record<string, string>)
      : [];
  if (pairs.length === 0) {
    throw new TypeError(
      'connectEmitter: events must list at least one event name (an array, or { emitterEvent: messageEvent })',
    );
  }
  for (const [from, to] of pairs) {
    if (typeof from !== 'string' || from.length === 0)
      throw new TypeError('connectEmitter: event names must be non-empty strings');
    const badEvent = checkEventName(to, `message event name ${JSON.stringify(to)}`);
    if (badEvent !== undefined) throw new TypeError(`connectEmitter: ${badEvent}`);
  }
  const toData = options.data ?? ((_event: string, args: unknown[]) => args[0]);
  if (typeof toData !== 'function')
    throw new TypeError('connectEmitter: data must be a function (event, args) => data');
  const maxInFlight = options.maxInFlight ?? 1_000;
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1) {
    throw new TypeError(`connectEmitter: maxInFlight must be a positive integer, got ${String(options.maxInFlight)}`);
  }
  const onDrop = options.onDrop;

  let inFlight = 0;
  let connected = true;
  const drop = (error: unknown, event: string): void => {
    sink.recordDrop?.('event_source');
    if (onDrop !== undefined) {
      try {
        onDrop(error instanceof Error ? error : new Error(String(error)), event);
      } catch {
        // a failing drop callback must not break the emitter
      }
    }
  };
  const settled = (): void => {
    inFlight--;
  };

  const listeners = pairs.map(([from, to]) => {
    const listener = (...args: unknown[]): void => {
      if (!connected) return;
      if (inFlight >= maxInFlight) {
        drop(new Error(`${maxInFlight} publishes are already in flight; event dropped`), to);
        return;
      }
      let result: MaybePromise<unknown>;
      try {
        result = sink.publish(channel, to, toData(from, args));
      } catch (error) {
        drop(error, to);
        return;
      }
      if (isPromiseLike(result)) {
        inFlight++;
        result.then(settled, (error: unknown) => {
          settled();
          drop(error, to);
        });
      }
    };
    emitter.on(from, listener);
    return [from, listener] as const;
  });

  return () => {
    if (!connected) return;
    connected = false;
    for (const [event, listener] of listeners) {
      if (typeof emitter.off === 'function') emitter.off(event, listener);
      else emitter.removeListener!(event, listener);
    }
  };
}
