import type { ErrorCode } from './constants';

/** A connection's id, unique across the cluster (`welcome.connectionId`). */
export type ConnectionId = string;
/** A channel name; see {@link CHANNEL_NAME_PATTERN}. */
export type ChannelName = string;
/** An authenticated user's id (the JWT `sub`). */
export type UserId = string;
/** A message id, unique across the cluster; the dedup key. */
export type MessageId = string;
/** Identifies one continuous history of a channel; it changes when history is lost. */
export type Epoch = string;
/** A message's position in its channel's stream. Strictly increasing within an epoch. */
export type Offset = number;
/** A client-chosen correlation id echoed in the reply. */
export type Ref = string | number;

/** A position in a channel's stream. */
export interface StreamPosition {
  epoch: Epoch;
  offset: Offset;
}

/** A member of a presence channel, aggregated over all of that user's connections. */
export interface PresenceMember {
  userId: UserId;
  /** Public info about the member (from the token's `info` claim or the authorization hook). */
  info?: unknown;
}

// ---------------------------------------------------------------------------------------------
// client → server
// ---------------------------------------------------------------------------------------------

/** Subscribe to a channel, optionally recovering from a stream position. */
export interface SubscribeCommand {
  type: 'subscribe';
  channel: ChannelName;
  ref?: Ref;
  /** Recover: replay every message after this position, then continue live. */
  since?: StreamPosition;
  /**
   * A signed subscription token for `private-`/`presence-` channels: a JWT with a `channel` claim, or a
   * Pusher-style signature `<key>:<hex hmac-sha256>` (see the server's `auth.subscriptionTokens`).
   */
  token?: string;
  /**
   * Pusher-style `channel_data` (a JSON string `{"user_id":…,"user_info":…}`) covered by an HMAC `token` on a
   * presence channel: it names the member when the connection has no identity of its own.
   */
  channelData?: string;
}

/** Leave a channel. */
export interface UnsubscribeCommand {
  type: 'unsubscribe';
  channel: ChannelName;
  ref?: Ref;
}

/** Publish a message on a channel (client events need a publish permission on the server). */
export interface PublishCommand {
  type: 'publish';
  channel: ChannelName;
  event: string;
  data?: unknown;
  ref?: Ref;
  /**
   * An idempotency key: a publish retried with the same `id` within the dedup window is not repeated, and its
   * ack carries the original `offset` with `duplicate: true`. The client SDK sets it for every publish.
   */
  id?: MessageId;
  /**
   * Set by a transport, never decoded from the wire: the message is not delivered to the publishing connection
   * (Pusher client events are not echoed to their sender).
   * @internal
   */
  exceptSender?: boolean;
  /**
   * Set by a transport, never decoded from the wire: the sending user, written into the message as `userId` (Pusher
   * client events on presence channels carry the sender's `user_id`).
   * @internal
   */
  senderUserId?: string;
}

/** Authenticate (or refresh an expiring token) after connecting. */
export interface AuthCommand {
  type: 'auth';
  token: string;
  ref?: Ref;
}

/** Ask for the current members of a presence channel. */
export interface PresenceCommand {
  type: 'presence';
  channel: ChannelName;
  ref?: Ref;
}

/** Application-level ping; the server answers `pong`. */
export interface PingCommand {
  type: 'ping';
  ref?: Ref;
}

/** Answer to a server `ping`. */
export interface PongCommand {
  type: 'pong';
  ref?: Ref;
}

/** Every command a client may send. */
export type ClientCommand =
  | SubscribeCommand
  | UnsubscribeCommand
  | PublishCommand
  | AuthCommand
  | PresenceCommand
  | PingCommand
  | PongCommand;

/** The `type` of a client command. */
export type ClientCommandType = ClientCommand['type'];

// ---------------------------------------------------------------------------------------------
// server → client
// ---------------------------------------------------------------------------------------------

/** First frame on every connection. */
export interface WelcomeFrame {
  type: 'welcome';
  connectionId: ConnectionId;
  protocol: number;
  heartbeatMs: number;
  userId: UserId | null;
  /** The node that accepted the connection (diagnostics). */
  nodeId?: string;
}

/** Success reply to a command; which fields are present depends on the command. */
export interface AckFrame {
  type: 'ack';
  ref?: Ref;
  channel?: ChannelName;
  /** subscribe: the channel's epoch. */
  epoch?: Epoch;
  /** subscribe: the position the subscription starts after; publish: the message's offset. */
  offset?: Offset;
  /** subscribe with `since`: whether every missed message follows. */
  recovered?: boolean;
  /** publish: the message id. */
  id?: MessageId;
  /** publish: the id was already published within the dedup window; nothing was repeated. */
  duplicate?: boolean;
  /** auth: the authenticated user. */
  userId?: UserId;
  /** auth: when the token expires (epoch ms), if it does. */
  expiresAt?: number;
  /** presence: the current members. */
  members?: PresenceMember[];
}

/** A message on a channel. */
export interface MessageFrame<TData = unknown> {
  type: 'message';
  channel: ChannelName;
  event: string;
  data: TData;
  id: MessageId;
  offset: Offset;
  /** Publish time, epoch ms. */
  ts: number;
}

/** A member joined or left a presence channel. */
export interface PresenceEventFrame {
  type: 'presence';
  channel: ChannelName;
  action: 'join' | 'leave';
  member: PresenceMember;
}

/**
 * The channel's history was lost (its epoch changed) or a gap could not be filled: positions restart at
 * `epoch`/`offset`, and messages may have been missed. Clients surface it as `recovered: false`.
 */
export interface ResyncFrame {
  type: 'resync';
  channel: ChannelName;
  epoch: Epoch;
  offset: Offset;
}

/**
 * The connection's token expires soon (or has expired): send `auth` with a fresh token within `graceMs`
 * or the connection is closed with 4001.
 */
export interface RefreshFrame {
  type: 'refresh';
  /** When the current token expires (epoch ms). */
  expiresAt: number;
  /** How long after expiry the server waits for a new token. */
  graceMs: number;
}

/** Heartbeat; clients answer `pong`. */
export interface PingFrame {
  type: 'ping';
}

/** Answer to a client `ping`. */
export interface PongFrame {
  type: 'pong';
  ref?: Ref;
}

/** A command failed; the connection stays open unless a close follows. */
export interface ErrorFrame {
  type: 'error';
  ref?: Ref;
  code: ErrorCode;
  message: string;
  /** The channel the failed command was about, when it had one. */
  channel?: ChannelName;
}

/** Every frame a server may send. */
export type ServerFrame =
  | WelcomeFrame
  | AckFrame
  | MessageFrame
  | PresenceEventFrame
  | ResyncFrame
  | RefreshFrame
  | PingFrame
  | PongFrame
  | ErrorFrame;

/**
 * Socket.IO transport only: why the server is about to end the connection, with the WebSocket close code the native
 * transport would use (the `close` event, sent just before the disconnect; see `@unisocket/transport-socketio`).
 */
export interface CloseFrame {
  type: 'close';
  code: number;
  reason: string;
}
