import type {
  ChannelName,
  ConnectionId,
  MessageId,
  Offset,
  PresenceMember,
  StreamPosition,
  UnisocketError,
  UserId,
} from '@unisocket/core/protocol';
import type { Unsubscribe } from './emitter';

/** The events of a channel and their data types, e.g. `{ say: { text: string } }`. */
export type EventMap = Record<string, unknown>;

/** A message as delivered to handlers (the server's `message` frame, frozen). */
export interface ChannelMessage<TData = unknown, TEvent extends string = string> {
  readonly type: 'message';
  readonly channel: ChannelName;
  readonly event: TEvent;
  readonly data: TData;
  /** Unique message id (for a client publish, its idempotency id). */
  readonly id: MessageId;
  /** The message's position in the channel's stream. */
  readonly offset: Offset;
  /** Publish time, epoch ms. */
  readonly ts: number;
}

/** Any message of a channel with events `TEvents`: a union discriminated by `event`. */
export type AnyChannelMessage<TEvents extends EventMap = EventMap> = {
  [K in keyof TEvents & string]: ChannelMessage<TEvents[K], K>;
}[keyof TEvents & string];

/** A handler of one event: the message's data, and the whole message. */
export type EventHandler<TEvents extends EventMap, K extends keyof TEvents & string> = (
  data: TEvents[K],
  message: ChannelMessage<TEvents[K], K>,
) => void;

/**
 * The client missed messages of a channel: the app should refetch what the channel represents.
 * - `not-recovered`: after a reconnect, the server's history no longer covered the client's position (or the
 *   stream's epoch changed), so the resubscribe ack said `recovered: false`;
 * - `resync`: the server lost the channel's history while the client was subscribed.
 */
export interface GapInfo {
  readonly channel: ChannelName;
  readonly reason: 'not-recovered' | 'resync';
  /** Where the client was (`null` when it had no position yet). */
  readonly previous: StreamPosition | null;
  /** Where the stream continues: the next message has an offset greater than `position.offset`. */
  readonly position: StreamPosition;
}

/** A member joined or left a presence channel. */
export interface PresenceChange {
  readonly channel: ChannelName;
  readonly action: 'join' | 'leave';
  readonly member: PresenceMember;
  /** The members after the change. */
  readonly members: readonly PresenceMember[];
}

/** The result of an acknowledged publish. */
export interface PublishResult {
  /** The message id: the publish's idempotency id. */
  readonly id: MessageId;
  readonly channel: ChannelName;
  /** The message's offset in the channel's stream. */
  readonly offset: Offset;
  /**
   * `true` when the server had already published this id (a retry after a lost ack): nothing was published twice,
   * and `offset` is the original's.
   */
  readonly duplicate: boolean;
}

/** Options of {@link UnisocketClient.publish}. */
export interface PublishOptions {
  /**
   * The idempotency id (1–64 characters of `[A-Za-z0-9_.:=@-]`). Pass the id of an earlier publish that timed out
   * to retry it without risking a double publish.
   * @default a fresh unique id
   */
  id?: MessageId;
}

/**
 * The connection's status:
 * - `idle`: `connect()` was never called;
 * - `connecting`: the first connection is being established;
 * - `connected`: connected (and authenticated, when a token is used); commands flow;
 * - `reconnecting`: the connection was lost; waiting for the next attempt, or attempting;
 * - `disconnected`: stopped (`disconnect()`, reconnect disabled, or the server refused by policy);
 * - `unauthorized`: the server refused the token (`UNAUTHORIZED` or close 4001); retried only with `getToken`.
 */
export type ConnectionStatus = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'disconnected' | 'unauthorized';

/**
 * A channel's status:
 * - `subscribing`: the subscribe is pending (or waits for the connection);
 * - `subscribed`: live;
 * - `recovering`: the connection was lost; on reconnect the client resubscribes from its position;
 * - `unsubscribed`: no subscription (the snapshot of a channel the client does not hold);
 * - `error`: the server refused the subscription (`error` says why; retried for temporary errors and on reconnect).
 */
export type ChannelStatus = 'subscribing' | 'subscribed' | 'recovering' | 'unsubscribed' | 'error';

/** An immutable view of one channel. A new object whenever something in it changed, the same object otherwise. */
export interface ChannelSnapshot {
  readonly channel: ChannelName;
  readonly status: ChannelStatus;
  /** The stream's epoch, once known. */
  readonly epoch: string | null;
  /** The offset of the last message received (or the subscription's start), once known. */
  readonly offset: Offset | null;
  /**
   * The last resubscribe's outcome: `true` = every missed message was delivered, in order; `false` = messages were
   * missed (a `gap` event was emitted); `null` = no recovery happened yet (first subscription).
   */
  readonly recovered: boolean | null;
  readonly lastMessage: ChannelMessage | null;
  readonly error: UnisocketError | null;
  /** The members of a `presence-` channel; `null` for other channels. */
  readonly members: readonly PresenceMember[] | null;
}

/** An immutable view of the client. A new object whenever something in it changed, the same object otherwise. */
export interface ClientSnapshot {
  readonly status: ConnectionStatus;
  /** The current connection's id (`null` while not connected). */
  readonly connectionId: ConnectionId | null;
  /** The authenticated user (`null` when anonymous or not connected). */
  readonly userId: UserId | null;
  /** The number of the connection attempt in progress since the last successful connection (`0` when connected). */
  readonly attempt: number;
  /** The last error (a close, a refused token, an error frame without a request); cleared on connect. */
  readonly lastError: UnisocketError | null;
  /** Publishes not acknowledged yet (queued while offline, or in flight). */
  readonly pendingPublishes: number;
  /** The channels the client holds, by name (a null-prototype object). */
  readonly channels: Readonly<Record<ChannelName, ChannelSnapshot>>;
}

/**
 * The connection part of {@link ClientSnapshot} (everything but `channels`): a new object only when one of these
 * fields changed, so a view of the connection state does not update on every channel message.
 */
export type ConnectionSnapshot = Omit<ClientSnapshot, 'channels'>;

/**
 * The store contract for framework bindings (React `useSyncExternalStore`, Vue, Svelte): `subscribe` registers a
 * listener called after changes and returns its removal; `getSnapshot` returns an immutable value whose identity
 * changes only when its content did.
 */
export interface ExternalStore<T> {
  subscribe(listener: () => void): Unsubscribe;
  getSnapshot(): T;
}

/** Counters of what the client did (diagnostics and tests; not part of the store). */
export interface ClientStats {
  /** Messages delivered to handlers. */
  messages: number;
  /** Messages dropped because their offset was not past the channel's last one. */
  duplicates: number;
  /** Successful reconnections. */
  reconnects: number;
  /** Publishes sent again after a reconnect (same idempotency id). */
  publishesResent: number;
  /** Gaps reported (recovery failed, or the server resynced a channel). */
  gaps: number;
}

/** Events of the client (`client.on(event, listener)`). */
export interface ClientEvents {
  /** Connected (after `welcome`, and `auth` when a token is used); channels are being resubscribed. */
  connected: [info: { connectionId: ConnectionId; userId: UserId | null; reconnected: boolean }];
  /** The connection ended. */
  disconnected: [info: { code: number; reason: string; willReconnect: boolean }];
  /** Every message received (after dedup), including `*` broadcasts and channels without a subscription. */
  message: [message: ChannelMessage];
  /** A subscribed channel missed messages. */
  gap: [gap: GapInfo];
  /** A member joined or left a presence channel. */
  presence: [change: PresenceChange];
  /** The server asked for a fresh token (the client answers itself when `getToken` is set). */
  refresh: [info: { expiresAt: number; graceMs: number }];
  /** An error not tied to a promise the app holds: a refused subscription, an error frame without a request. */
  error: [error: UnisocketError];
}
