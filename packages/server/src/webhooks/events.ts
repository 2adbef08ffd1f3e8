import type { ChannelName } from '@unisocket/core';

/**
 * Every lifecycle event name, as Pusher names them. `connection_opened` and `connection_closed` are unisocket
 * extensions (per node; Pusher has no such webhook).
 */
export const LIFECYCLE_EVENTS = [
  'channel_occupied',
  'channel_vacated',
  'member_added',
  'member_removed',
  'client_event',
  'cache_miss',
  'connection_opened',
  'connection_closed',
] as const;

/** A lifecycle event name: one of {@link LIFECYCLE_EVENTS}. */
export type LifecycleEventName = (typeof LIFECYCLE_EVENTS)[number];

/**
 * The events an endpoint gets when it lists none: Pusher's channel existence, presence and cache-miss events.
 * `client_event` and the per-node `connection_opened` / `connection_closed` are sent only to endpoints that list them.
 */
export const DEFAULT_WEBHOOK_EVENTS: readonly LifecycleEventName[] = [
  'channel_occupied',
  'channel_vacated',
  'member_added',
  'member_removed',
  'cache_miss',
];

/** `channel_occupied` (first subscriber anywhere), `channel_vacated` (last one everywhere), `cache_miss`. */
export interface ChannelLifecycleEvent {
  name: 'channel_occupied' | 'channel_vacated' | 'cache_miss';
  channel: ChannelName;
}

/** A user's first (`member_added`) or last (`member_removed`) connection to a presence channel in the cluster. */
export interface MemberLifecycleEvent {
  name: 'member_added' | 'member_removed';
  channel: ChannelName;
  user_id: string;
}

/** A client event (`client-…`, Echo's whisper) sent on a private or presence channel. */
export interface ClientLifecycleEvent {
  name: 'client_event';
  channel: ChannelName;
  /** The event name (`client-typing`). */
  event: string;
  /** The event's data as a JSON string (as Pusher sends it). */
  data: string;
  /** The sender's socket id, when it has one. */
  socket_id?: string;
  /** The sender's user id, on presence channels. */
  user_id?: string;
}

/** A connection opened or closed on one node (unisocket extension; not cluster-wide). */
export interface ConnectionLifecycleEvent {
  name: 'connection_opened' | 'connection_closed';
  connection_id: string;
  user_id?: string;
  /** `native`, `socketio` or `pusher`. */
  transport: string;
  /** The node the connection is (was) on. */
  node_id: string;
}

/**
 * A lifecycle event, with Pusher's field names. Channel names and user ids are the Hub's (`app:2:presence-x`,
 * `app:2:u1` for a further Pusher app); the webhook body carries them as that app's clients know them.
 */
export type LifecycleEvent =
  | ChannelLifecycleEvent
  | MemberLifecycleEvent
  | ClientLifecycleEvent
  | ConnectionLifecycleEvent;
