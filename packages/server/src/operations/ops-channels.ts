import { type ChannelName, type Connection, type MaybePromise, isPromiseLike } from '@unisocket/core';
import { type DisconnectEmitter, type EmitterLike, type EventSink, connectEmitter } from '../event-source';
import { OPERATION_CATEGORIES, type OperationCategory, type ResolvedOperationsOptions } from './options';

/** The operational channels of a prefix: `{ 'error-recovery': 'sys.error-recovery', … }`. */
export function operationChannels(prefix: string): Record<OperationCategory, ChannelName> {
  const out = {} as Record<OperationCategory, ChannelName>;
  for (const category of Object.keys(OPERATION_CATEGORIES) as OperationCategory[]) out[category] = prefix + category;
  return out;
}

/**
 * @internal The subscribe guard of the operational channels (the Hub's `policy.authorizeReserved`): `undefined` for
 * other channels, otherwise what `operations.authorize` decides — `false` when it is not configured.
 */
export function operationsGuard(
  options: ResolvedOperationsOptions,
): ((conn: Connection, channel: ChannelName) => MaybePromise<boolean> | undefined) | undefined {
  const { prefix, authorize } = options;
  if (prefix === undefined) return undefined;
  const reserved = new Set(Object.values(operationChannels(prefix)));
  return (conn, channel) => {
    if (!reserved.has(channel)) return undefined;
    if (authorize === undefined) return false;
    // only `true` permits: an `undefined` would tell the Hub the channel is not reserved (public: anyone may)
    const ok = authorize(conn, channel);
    return isPromiseLike(ok) ? Promise.resolve(ok).then((value) => value === true) : ok === true;
  };
}

/**
 * @internal Publishes the operational events of `emitters` on their category's channel: each listed event of an
 * emitter that emits it becomes a message of that name with the event object as data. Bounded like every event
 * source (dropped and counted when the broker cannot take them). @returns a function that disconnects them all
 */
export function publishOperations(
  sink: EventSink,
  prefix: string,
  emitters: readonly EmitterLike[],
): DisconnectEmitter {
  const channels = operationChannels(prefix);
  const disconnects: DisconnectEmitter[] = [];
  for (const emitter of emitters) {
    for (const [category, events] of Object.entries(OPERATION_CATEGORIES) as [OperationCategory, readonly string[]][]) {
      disconnects.push(connectEmitter(sink, emitter, { channel: channels[category], events }));
    }
  }
  return () => {
    for (const disconnect of disconnects) disconnect();
  };
}
