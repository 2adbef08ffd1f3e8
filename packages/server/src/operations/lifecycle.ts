import type { ClientPublish, Connection, Hub, PresenceMember } from '@unisocket/core';
import type { LifecycleEvent } from '../webhooks';

/**
 * Turns the Hub's events into the lifecycle events of the service (DESIGN §11), handing each to `emit`:
 *
 * | Hub event | lifecycle event | emitted on |
 * |---|---|---|
 * | `occupancy` occupied / vacated | `channel_occupied` / `channel_vacated` | one node per cluster-wide change (after the grace for vacated) |
 * | `presence` join / leave | `member_added` / `member_removed` | one node per cluster-wide change (after `presence.leaveGraceMs` for removed) |
 * | `clientPublish` | `client_event` | the node the client publishes on |
 * | `cacheMiss` | `cache_miss` | the node of the subscribing client |
 * | `connection` / `disconnect` | `connection_opened` / `connection_closed` | this node |
 *
 * `wants(name)` is asked per event so nothing is built for events nobody listens to; call `refresh()` when what it
 * answers changes.
 * @internal
 */
export function attachLifecycle(
  hub: Hub,
  nodeId: string,
  wants: (name: LifecycleEvent['name']) => boolean,
  emit: (event: LifecycleEvent) => void,
): LifecycleBinding {
  const onOccupancy = (channel: string, action: 'occupied' | 'vacated'): void => {
    const name = action === 'occupied' ? 'channel_occupied' : 'channel_vacated';
    if (wants(name)) emit({ name, channel });
  };
  const onPresence = (channel: string, action: 'join' | 'leave', member: PresenceMember): void => {
    const name = action === 'join' ? 'member_added' : 'member_removed';
    if (wants(name)) emit({ name, channel, user_id: member.userId });
  };
  const onClientPublish = (publish: ClientPublish): void => {
    if (!wants('client_event')) return;
    const { conn } = publish;
    emit({
      name: 'client_event',
      channel: publish.channel,
      event: publish.event,
      data: publish.data === undefined ? '' : JSON.stringify(publish.data),
      // a Pusher client's socket_id is what Pusher receivers expect; other transports' keys mean nothing outside
      ...(conn.transport === 'pusher' ? { socket_id: conn.exceptKey } : {}),
      ...(conn.userId === null ? {} : { user_id: conn.userId }),
    });
  };
  const onCacheMiss = (_conn: Connection, channel: string): void => {
    if (wants('cache_miss')) emit({ name: 'cache_miss', channel });
  };
  const onConnection = (conn: Connection): void => {
    if (!wants('connection_opened')) return;
    emit({
      name: 'connection_opened',
      connection_id: conn.id,
      transport: conn.transport,
      node_id: nodeId,
      ...(conn.userId === null ? {} : { user_id: conn.userId }),
    });
  };
  const onDisconnect = (conn: Connection): void => {
    if (!wants('connection_closed')) return;
    emit({
      name: 'connection_closed',
      connection_id: conn.id,
      transport: conn.transport,
      node_id: nodeId,
      ...(conn.userId === null ? {} : { user_id: conn.userId }),
    });
  };
  // a Hub listener is attached only while one of its lifecycle events is wanted: `clientPublish` costs nothing
  // without listeners, and connection events fire for every connection
  const bindings: [keyof HubEventsSubset, (...args: never[]) => void, LifecycleEvent['name'][]][] = [
    ['occupancy', onOccupancy, ['channel_occupied', 'channel_vacated']],
    ['presence', onPresence, ['member_added', 'member_removed']],
    ['clientPublish', onClientPublish, ['client_event']],
    ['cacheMiss', onCacheMiss, ['cache_miss']],
    ['connection', onConnection, ['connection_opened']],
    ['disconnect', onDisconnect, ['connection_closed']],
  ];
  const attached = new Set<string>();
  const on = hub.on.bind(hub) as unknown as (event: string, listener: (...args: never[]) => void) => void;
  const off = hub.off.bind(hub) as unknown as (event: string, listener: (...args: never[]) => void) => void;
  const refresh = (): void => {
    for (const [event, listener, names] of bindings) {
      const wanted = names.some(wants);
      if (wanted && !attached.has(event)) {
        on(event, listener);
        attached.add(event);
      } else if (!wanted && attached.has(event)) {
        off(event, listener);
        attached.delete(event);
      }
    }
  };
  refresh();
  return {
    refresh,
    detach: () => {
      for (const [event, listener] of bindings) if (attached.delete(event)) off(event, listener);
    },
  };
}

type HubEventsSubset = Record<
  'occupancy' | 'presence' | 'clientPublish' | 'cacheMiss' | 'connection' | 'disconnect',
  unknown
>;

/** @internal What {@link attachLifecycle} returns. */
export interface LifecycleBinding {
  /** Attaches or detaches the Hub listeners after `wants` changed. */
  refresh(): void;
  /** Removes every listener. */
  detach(): void;
}
