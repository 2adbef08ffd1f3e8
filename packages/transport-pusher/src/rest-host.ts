import type { Hub, PublishAck } from '@unisocket/core';
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
  /** Closes every connection of a user. */
  terminateUser(app: ResolvedPusherApp, userId: string): Promise<void>;
}

/** The Pusher prefix of a user's server-to-user channel: `#server-to-user-{id}` is unisocket's `user:{id}`. */
export const SERVER_TO_USER_PREFIX = '#server-to-user-';
/** The close code of a connection ended by `POST users/{id}/terminate_connections` (Pusher's 4009). */
export const TERMINATED_CLOSE_CODE = 4009;

/** How Pusher channel names of an app map to Hub channels and back. */
export interface PusherNamespace {
  /** The Hub channel of a Pusher channel of `app`. */
  toHub(app: ResolvedPusherApp, name: string): string;
  /** The Pusher name of a Hub channel, or `undefined` when it is not one of `app`'s. */
  fromHub(app: ResolvedPusherApp, channel: string): string | undefined;
}

/** The kind prefixes a namespace keeps in front (so a channel keeps its kind on every transport). */
const KIND_PREFIXES = ['private-encrypted-', 'private-', 'presence-', 'user:'];

/**
 * The default namespace: the first app shares its channels with the native and Socket.IO transports (`presence-lobby`
 * is `presence-lobby`), `#server-to-user-{id}` is `user:{id}`; every other app's channels carry `{app id}:` after
 * their kind prefix (`presence-{id}:lobby`, `{id}:news`, `user:{id}:u1`), so that apps stay apart and channels keep
 * their kind. Pusher channel names hold no `:`, so no name of the first app looks like one of another app.
 */
export function defaultNamespace(apps: readonly ResolvedPusherApp[]): PusherNamespace {
  const first = apps[0];
  const split = (channel: string): [string, string] => {
    const kind = KIND_PREFIXES.find((p) => channel.startsWith(p)) ?? '';
    return [kind, channel.slice(kind.length)];
  };
  return {
    toHub(app, name) {
      const local = name.startsWith(SERVER_TO_USER_PREFIX) ? `user:${name.slice(SERVER_TO_USER_PREFIX.length)}` : name;
      if (app === first) return local;
      const [kind, rest] = split(local);
      return `${kind}${app.id}:${rest}`;
    },
    fromHub(app, channel) {
      if (channel === '*' || channel.startsWith('user:')) return undefined;
      const [kind, rest] = split(channel);
      if (app === first) return rest.includes(':') ? undefined : channel;
      return rest.startsWith(`${app.id}:`) ? kind + rest.slice(app.id.length + 1) : undefined;
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
   * Publishes on the Hub excluding the connection with a Pusher `socket_id` (the Pusher transport provides it). Without
   * it the exclusion is not applied: no connection has a Pusher `socket_id` unless the Pusher transport runs.
   */
  publishExcluding?(
    channel: string,
    event: string,
    data: unknown,
    excludeSocketId: string,
  ): PublishAck | Promise<PublishAck>;
}

/**
 * A {@link PusherRestHost} over a Hub (`hub` may be a getter: the service creates its Hub at `initialize`).
 * Scope of the answers: presence members and `user_count` are cluster-wide (the presence store is, on Redis);
 * `subscription_count`, `occupied` of non-presence channels and the channel list are this node's (the brokers do not
 * count subscribers of other nodes); terminating a user closes its connections on this node.
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
    const out: PusherChannelState = { name, subscriptionCount: h.channelSubscribers(channel).length };
    if (name.startsWith('presence-')) out.userCount = await memberCount(h, channel);
    return out;
  };
  return {
    apps,
    async publish(app, channels, event, data, excludeSocketId) {
      const h = getHub();
      const value = pusherDataToHub(data);
      await Promise.all(
        channels.map((name) => {
          const channel = ns.toHub(app, name);
          return excludeSocketId !== undefined && options.publishExcluding !== undefined
            ? options.publishExcluding(channel, event, value, excludeSocketId)
            : h.publish(channel, event, value);
        }),
      );
    },
    async channels(app, prefix = '') {
      const h = getHub();
      const out: PusherChannelState[] = [];
      for (const [channel, count] of h.channelSubscriberCounts()) {
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
      return members.map((m) => ({ id: String(m.userId) }));
    },
    async terminateUser(app, userId) {
      const h = getHub();
      // the first app's users are the Hub's users; other apps' users are not told apart yet (see the README)
      if (app !== apps[0]) return;
      for (const conn of h.userConnections(userId)) {
        h.disconnect(conn, TERMINATED_CLOSE_CODE, 'connection terminated by the server (terminate_connections)');
      }
    },
  };
}
