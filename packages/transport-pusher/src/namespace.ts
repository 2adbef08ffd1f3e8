import { APP_PREFIX, USER_PREFIX, appScopeLength } from '@unisocket/core';
import type { ResolvedPusherApp } from './options';

/** What a Pusher client may name: Pusher's channel characters without `,` and `;` (which unisocket names cannot hold). */
const PUSHER_CHANNEL = /^[A-Za-z0-9_\-=@.]+$/;
/** The longest Hub channel name. */
const MAX_HUB_CHANNEL = 200;
/** The channel pusher-js subscribes to after `pusher:signin`: the signed-in user's personal channel. */
export const SERVER_TO_USER_PREFIX = '#server-to-user-';

/**
 * One app's channel namespace in the Hub. The first app shares the bare namespace with the native and Socket.IO
 * transports (`presence-lobby` is `presence-lobby` everywhere); every other app lives under `app:<id>:` (its
 * `presence-x` is the Hub's `app:2:presence-x`), which core reserves: native and Socket.IO clients cannot name it,
 * their identities cannot take `app:`-prefixed user ids, and Pusher clients cannot write `:` at all. So nothing a
 * client of one app sends can reach another app's channels or users.
 */
export class AppNamespace {
  /** `''` for the first app, `app:<id>:` for the others. */
  readonly prefix: string;

  constructor(
    readonly app: ResolvedPusherApp,
    /** `true` for the first app (the bare namespace). */
    readonly shared: boolean,
  ) {
    this.prefix = shared ? '' : `${APP_PREFIX}${app.id}:`;
  }

  /**
   * The Hub channel of a channel name a Pusher client sent, or `undefined` when the name is not one a Pusher client
   * may use (Pusher's characters, no `:`, within the Hub's 200 characters once scoped).
   */
  toHub(pusherChannel: unknown): string | undefined {
    if (typeof pusherChannel !== 'string' || !PUSHER_CHANNEL.test(pusherChannel)) return undefined;
    const name = this.prefix + pusherChannel;
    return name.length > MAX_HUB_CHANNEL ? undefined : name;
  }

  /** The Hub user id of a Pusher user id (`u1`, or `app:2:u1` for another app); `undefined` when it cannot be one. */
  userToHub(userId: string): string | undefined {
    if (userId.length === 0 || userId.length > 150) return undefined;
    // the shared app's users must not take another app's scope
    if (this.shared && userId.startsWith(APP_PREFIX)) return undefined;
    return this.prefix + userId;
  }

  /** The Pusher user id of a Hub user id of this app. */
  userFromHub(userId: string): string {
    return this.prefix.length > 0 && userId.startsWith(this.prefix) ? userId.slice(this.prefix.length) : userId;
  }
}

/**
 * The channel name Pusher clients know for a Hub channel: the app scope removed, and a personal channel
 * (`user:<id>`, `app:2:user:<id>`) as `#server-to-user-<id>`. The same for every app: a batch's translation depends
 * on its channel only, so it is made once per batch.
 */
export function pusherChannelOf(hubChannel: string): string {
  const scope = appScopeLength(hubChannel);
  if (hubChannel.startsWith(USER_PREFIX, scope)) {
    return SERVER_TO_USER_PREFIX + hubChannel.slice(scope + USER_PREFIX.length);
  }
  return scope === 0 ? hubChannel : hubChannel.slice(scope);
}

/** A Hub user id as Pusher clients of its app know it (the app scope removed). */
export function pusherUserOf(hubUserId: string): string {
  const scope = appScopeLength(hubUserId);
  return scope === 0 ? hubUserId : hubUserId.slice(scope);
}

/** `true` for the channels whose last event is sent on subscribe (`cache-`, `private-cache-`, `presence-cache-`…). */
export function isCacheChannel(pusherChannel: string): boolean {
  return (
    pusherChannel.startsWith('cache-') ||
    pusherChannel.startsWith('private-cache-') ||
    pusherChannel.startsWith('presence-cache-') ||
    pusherChannel.startsWith('private-encrypted-cache-')
  );
}
