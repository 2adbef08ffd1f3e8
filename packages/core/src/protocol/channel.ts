import { BROADCAST_CHANNEL, PRESENCE_PREFIX, PRIVATE_PREFIX, USER_PREFIX } from './constants';
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

/** The kind of a channel, by name. The name is assumed valid. */
export function channelKind(name: ChannelName): ChannelKind {
  if (name === BROADCAST_CHANNEL) return 'broadcast';
  if (name.startsWith(PRIVATE_PREFIX)) return 'private';
  if (name.startsWith(PRESENCE_PREFIX)) return 'presence';
  if (name.startsWith(USER_PREFIX)) return 'user';
  return 'public';
}

/** The personal channel of a user: `user:<userId>`. */
export function userChannel(userId: UserId): ChannelName {
  return USER_PREFIX + userId;
}

/** The user id of a `user:<userId>` channel, or `undefined` for other channels. */
export function userIdOfChannel(name: ChannelName): UserId | undefined {
  return name.startsWith(USER_PREFIX) ? name.slice(USER_PREFIX.length) : undefined;
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
