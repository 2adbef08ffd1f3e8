import { APP_PREFIX, BROADCAST_CHANNEL, PRESENCE_PREFIX, PRIVATE_PREFIX, USER_PREFIX } from './constants';
import type { ChannelName, UserId } from './types';

export { isValidChannelName } from './validate';

/**
 * What a channel name means:
 * - `public`: anyone may subscribe;
 * - `private`: `private-…`, needs authorization;
 * - `presence`: `presence-…`, needs authorization and tracks members;
 * - `user`: `user:<userId>`, only that user; every connection of the user is subscribed automatically;
 * - `broadcast`: the reserved `*`, reaches every connection without a subscription.
 */
export type ChannelKind = 'public' | 'private' | 'presence' | 'user' | 'broadcast';

/** The kind of a channel, by name; an app namespace (`app:<appId>:`) is not part of it. The name is assumed valid. */
export function channelKind(name: ChannelName): ChannelKind {
  if (name === BROADCAST_CHANNEL) return 'broadcast';
  const start = appScopeLength(name);
  if (name.startsWith(PRIVATE_PREFIX, start)) return 'private';
  if (name.startsWith(PRESENCE_PREFIX, start)) return 'presence';
  if (name.startsWith(USER_PREFIX, start)) return 'user';
  return 'public';
}

/**
 * The length of a name's app namespace `app:<appId>:` (the app id holds no `:`), `0` when it has none. Channel
 * names and user ids share the form: `app:2:presence-room` is app `2`'s `presence-room`, `app:2:u1` its user `u1`.
 */
export function appScopeLength(name: string): number {
  if (!name.startsWith(APP_PREFIX)) return 0;
  const end = name.indexOf(':', APP_PREFIX.length);
  return end <= APP_PREFIX.length ? 0 : end + 1;
}

/** `true` for a name in an app namespace (`app:<appId>:…`): reserved for the transports that own those apps. */
export function isAppScoped(name: string): boolean {
  return name.startsWith(APP_PREFIX);
}

/** The personal channel of a user: `user:<userId>`; for an app-scoped user `app:<appId>:<id>`, `app:<appId>:user:<id>`. */
export function userChannel(userId: UserId): ChannelName {
  const scope = appScopeLength(userId);
  return scope === 0 ? USER_PREFIX + userId : userId.slice(0, scope) + USER_PREFIX + userId.slice(scope);
}

/** The user id of a personal channel (the inverse of {@link userChannel}), or `undefined` for other channels. */
export function userIdOfChannel(name: ChannelName): UserId | undefined {
  const scope = appScopeLength(name);
  if (!name.startsWith(USER_PREFIX, scope)) return undefined;
  return name.slice(0, scope) + name.slice(scope + USER_PREFIX.length);
}

/** The kind keywords a channel pattern may be: they match every channel of that kind. */
const KIND_KEYWORDS: ReadonlySet<string> = new Set(['public', 'private', 'presence', 'user']);

/**
 * Compiles a channel pattern into a predicate. A pattern is a kind keyword (`public`, `private`, `presence`,
 * `user`: every channel of that kind), or a channel name where `*` matches any run of channel characters
 * (`chat.*`, `prices.*.eur`). Used by the publish permissions and the backpressure policies.
 * @throws {TypeError} for a pattern with characters a channel name cannot hold
 */
export function compilePattern(pattern: string): (channel: ChannelName) => boolean {
  if (KIND_KEYWORDS.has(pattern)) {
    return (channel) => channelKind(channel) === pattern;
  }
  if (typeof pattern !== 'string' || !/^[A-Za-z0-9_.:=@*-]{1,200}$/.test(pattern)) {
    throw new TypeError(
      `invalid channel pattern ${JSON.stringify(pattern)}: use channel characters [A-Za-z0-9_.:=@-] with * wildcards, or public/private/presence/user`,
    );
  }
  if (!pattern.includes('*')) return (channel) => channel === pattern;
  const regex = new RegExp(`^${pattern.split('*').map(escapeRegex).join('[A-Za-z0-9_.:=@-]*')}$`);
  return (channel) => regex.test(channel);
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
