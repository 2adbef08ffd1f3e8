import type { Hub } from '@unisocket/core';
import type { ResolvedPusherApp } from './options';

/** What the REST API knows about one occupied channel. */
export interface PusherChannelState {
  /** The channel's Pusher name (`presence-lobby`, `#server-to-user-u1` is never listed). */
  name: string;
  /** Connections subscribed (see {@link PusherRestHost.channels} for the scope). */
  subscriptionCount: number;
  /** Distinct presence members (presence channels only). */
  userCount?: number;
}

/**
 * What the Pusher REST API serves from: the apps and the few Hub operations its endpoints need, all in Pusher channel
 * names of one app. {@link hubRestHost} implements it over a unisocket Hub.
 */
export interface PusherRestHost {
  /** The apps served (looked up by id in the path and by key in `auth_key`). */
  readonly apps: readonly ResolvedPusherApp[];
  /**
   * Publishes one event on each channel. `data` is what the Pusher publisher sent (a string, JSON-encoded by the
   * SDKs); `excludeSocketId` is a Pusher `socket_id` that must not receive it.
   */
  publish(
    app: ResolvedPusherApp,
    channels: readonly string[],
    event: string,
    data: string,
    excludeSocketId?: string,
  ): Promise<void>;
  /** The occupied channels whose names start with `prefix`. */
  channels(app: ResolvedPusherApp, prefix?: string): Promise<PusherChannelState[]>;
  /** One channel (occupied or not: `subscriptionCount` 0). */
  channel(app: ResolvedPusherApp, name: string): Promise<PusherChannelState>;
  /** The members of a presence channel. */
  users(app: ResolvedPusherApp, name: string): Promise<{ id: string }[]>;
  /** Closes every connection of a user (on every node: {@link hubRestHost} uses `Hub.disconnectUser`). */
  terminateUser(app: ResolvedPusherApp, userId: string): Promise<void>;
}

/** Pusher's name of a user's personal channel: `#server-to-user-{id}` is unisocket's `user:{id}`. */
const SERVER_TO_USER = '#server-to-user-';
/** The close code of a connection ended by `POST users/{id}/terminate_connections` (Pusher's 4009). */
export const TERMINATED_CLOSE_CODE = 4009;

/** How Pusher channel names and user ids of an app map to the Hub's and back. */
export interface PusherNamespace {
  /** The Hub channel of a Pusher channel of `app` (`#server-to-user-{id}` included). */
  toHub(app: ResolvedPusherApp, name: string): string;
  /** The Pusher name of a Hub channel, or `undefined` when it is not one of `app`'s (or not a listable one). */
  fromHub(app: ResolvedPusherApp, channel: string): string | undefined;
  /** The Hub user id of a Pusher user id of `app`. */
  userToHub(app: ResolvedPusherApp, userId: string): string;
  /** The Pusher user id of a Hub user id of `app`. */
  userFromHub(app: ResolvedPusherApp, userId: string): string;
}

/**
 * The default namespace (core's app namespaces): the first app shares the bare namespace with the native and
 * Socket.IO transports (`presence-lobby` is `presence-lobby`); every other app lives under `app:{id}:`
 * (`app:2:presence-x`, users `app:2:u1`, personal channels `app:2:user:u1`). `#server-to-user-{id}` is the user's
 * personal channel. Pusher channel names hold no `:`, so no name of one app is one of another's.
 */
export function defaultNamespace(apps: readonly ResolvedPusherApp[]): PusherNamespace {
  const scope = (app: ResolvedPusherApp): string => (app === apps[0] ? '' : `app:${app.id}:`);
  return {
    toHub(app, name) {
      const local = name.startsWith(SERVER_TO_USER) ? `user:${name.slice(SERVER_TO_USER.length)}` : name;
      return scope(app) + local;
    },
    fromHub(app, channel) {
      const prefix = scope(app);
      if (!channel.startsWith(prefix)) return undefined;
      const local = channel.slice(prefix.length);
      // another app's channels, personal channels, `*` and names no Pusher client could use are not listed
      if (local.includes(':') || local === '*') return undefined;
      return local;
    },
    userToHub: (app, userId) => scope(app) + userId,
    userFromHub: (app, userId) => {
      const prefix = scope(app);
      return userId.startsWith(prefix) ? userId.slice(prefix.length) : userId;
    },
  };
}

/**
 * The data a Pusher publisher sent, as unisocket data: a string that parses as JSON reaches native and Socket.IO
 * subscribers parsed (Pusher subscribers get it back as JSON text); any other string stays a string.
 */
export function pusherDataToHub(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    return data;
  }
}

/** Options of {@link hubRestHost}. */
export interface HubRestHostOptions {
  /** The channel mapping. @default defaultNamespace(apps) */
  namespace?: PusherNamespace;
  /**
   * @deprecated Not used: a publish with `socket_id` carries the `socket_id` itself as its exclusion key
   * (`PublishOptions.exceptKey`), and the Pusher socket with that id skips it, on whichever node it is.
   */
  connectionOfSocket?(socketId: string): string | undefined;
}

/**
 * A {@link PusherRestHost} over a Hub (`hub` may be a getter: the service creates its Hub at `initialize`).
 * Scope of the answers: as wide as the broker reaches (the cluster on Redis, this node on Kafka). Presence members and
 * `user_count` come from the presence store; `subscription_count`, `occupied` and the channel list from
 * `Broker.subscriberCounts` (on Redis every live node answers with its counts on demand); terminating a user closes
 * its connections on every node (`Hub.disconnectUser`).
 */
export function hubRestHost(
  hub: Hub | (() => Hub | undefined),
  apps: readonly ResolvedPusherApp[],
  options: HubRestHostOptions = {},
): PusherRestHost {
  const ns = options.namespace ?? defaultNamespace(apps);
  const getHub = (): Hub => {
    const h = typeof hub === 'function' ? hub() : hub;
    if (h === undefined) throw Object.assign(new Error('the service is not initialized yet'), { status: 503 });
    return h;
  };
  const memberCount = async (h: Hub, channel: string): Promise<number> => (await h.presenceMembers(channel)).length;
  const state = async (app: ResolvedPusherApp, name: string): Promise<PusherChannelState> => {
    const h = getHub();
    const channel = ns.toHub(app, name);
    const counts = await h.broker.subscriberCounts([channel]);
    const out: PusherChannelState = { name, subscriptionCount: counts.get(channel) ?? 0 };
    if (name.startsWith('presence-')) out.userCount = await memberCount(h, channel);
    return out;
  };
  return {
    apps,
    async publish(app, channels, event, data, excludeSocketId) {
      const h = getHub();
      const value = pusherDataToHub(data);
      // the socket_id is the exclusion key of its Pusher socket, on whichever node that socket is
      const publishOptions = excludeSocketId === undefined ? {} : { exceptKey: excludeSocketId };
      await Promise.all(
        channels.map((name) => {
          return h.publish(ns.toHub(app, name), event, value, publishOptions);
        }),
      );
    },
    async channels(app, prefix = '') {
      const h = getHub();
      const out: PusherChannelState[] = [];
      // the default namespace maps a prefix of Pusher names to a prefix of Hub names: only those are asked for
      const filter = options.namespace === undefined ? { prefix: ns.toHub(app, prefix) } : undefined;
      for (const [channel, count] of await h.broker.subscriberCounts(filter)) {
        const name = ns.fromHub(app, channel);
        if (name === undefined || !name.startsWith(prefix) || count === 0) continue;
        const entry: PusherChannelState = { name, subscriptionCount: count };
        if (name.startsWith('presence-')) entry.userCount = await memberCount(h, channel);
        out.push(entry);
      }
      return out;
    },
    channel: state,
    async users(app, name) {
      const members = await getHub().presenceMembers(ns.toHub(app, name));
      return members.map((m) => ({ id: ns.userFromHub(app, String(m.userId)) }));
    },
    async terminateUser(app, userId) {
      // this node's connections at once, every other node's through the broker (Hub.disconnectUser)
      getHub().disconnectUser(
        ns.userToHub(app, userId),
        TERMINATED_CLOSE_CODE,
        'connection terminated by the server (terminate_connections)',
      );
    },
  };
}
