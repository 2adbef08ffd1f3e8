import type { ChannelName, PresenceMember } from '@unisocket/core/protocol';
import type { UnisocketClient } from './client';
import type { ChannelSnapshot, ConnectionSnapshot, PublishOptions, PublishResult } from './types';

/**
 * `client.publish` as a standalone function: what `usePublish()` returns in the React and Vue bindings, and the
 * `publish` of a Svelte broadcast store. Resolves with `{ id, channel, offset, duplicate }` once acknowledged.
 */
export type PublishFunction = <TData = unknown>(
  channel: ChannelName,
  event: string,
  data?: TData,
  options?: PublishOptions,
) => Promise<PublishResult>;

/**
 * `true` for a unisocket client. Duck-typed (`subscribe` and `channelStore` methods), so a client from another copy
 * of the package counts too. The bindings use it to accept a client or client options in one parameter, and an
 * optional client before the channel (`useChannel(client, 'news')`).
 */
export function isClient(value: unknown): value is UnisocketClient {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as UnisocketClient).subscribe === 'function' &&
    typeof (value as UnisocketClient).channelStore === 'function'
  );
}

/** The flag the bindings derive from a channel's status. */
export interface ChannelFlags {
  /** `status === 'subscribed'`. */
  readonly isSubscribed: boolean;
}

/** The flag the bindings derive from the connection's status. */
export interface ConnectionFlags {
  /** `status === 'connected'`. */
  readonly isConnected: boolean;
}

/**
 * A channel snapshot with its derived flag, `isSubscribed` (a new object: use it as the `select` of
 * {@link deriveStore} to keep one object per snapshot).
 */
export function withChannelFlags(snapshot: ChannelSnapshot): ChannelSnapshot & ChannelFlags {
  return { ...snapshot, isSubscribed: snapshot.status === 'subscribed' };
}

/**
 * A connection snapshot with its derived flag, `isConnected` (a new object: use it as the `select` of
 * {@link deriveStore} to keep one object per snapshot).
 */
export function withConnectionFlags(snapshot: ConnectionSnapshot): ConnectionSnapshot & ConnectionFlags {
  return { ...snapshot, isConnected: snapshot.status === 'connected' };
}

const NO_MEMBERS: readonly PresenceMember[] = Object.freeze([]);

/** The members in a channel snapshot, never `null`: a shared empty list for a channel without (yet). */
export function presenceMembers(snapshot: Pick<ChannelSnapshot, 'members'>): readonly PresenceMember[] {
  return snapshot.members ?? NO_MEMBERS;
}
