/** The wire protocol version spoken by this package (`welcome.protocol`). */
export const PROTOCOL_VERSION = 1;

/**
 * Error codes carried by `error` frames and by {@link UnisocketError.code}.
 *
 * | code | meaning | what a client should do |
 * |---|---|---|
 * | `BAD_REQUEST` | the command is malformed | fix the command; the connection stays open |
 * | `UNAUTHORIZED` | no valid identity for this action | send `auth` with a valid token |
 * | `FORBIDDEN` | identity known but not allowed | do not retry |
 * | `NOT_FOUND` | the target does not exist | do not retry |
 * | `RATE_LIMITED` | too many commands | slow down, retry later |
 * | `PAYLOAD_TOO_LARGE` | a command or `data` is over the limit | send less |
 * | `LIMIT_EXCEEDED` | a count limit (subscriptions, members…) is reached | free something first |
 * | `UNAVAILABLE` | the server cannot do it now (broker down, shutting down) | retry with backoff |
 * | `INTERNAL` | a server bug | report it; retry may help |
 */
export const ErrorCode = {
  BAD_REQUEST: 'BAD_REQUEST',
  UNAUTHORIZED: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  RATE_LIMITED: 'RATE_LIMITED',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  LIMIT_EXCEEDED: 'LIMIT_EXCEEDED',
  UNAVAILABLE: 'UNAVAILABLE',
  INTERNAL: 'INTERNAL',
} as const;
/** One of {@link ErrorCode}. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * WebSocket close codes used by unisocket (the Socket.IO transport maps them to disconnect reasons).
 */
export const CloseCode = {
  /** Normal closure (client or server chose to close). */
  NORMAL: 1000,
  /** The server is shutting down: reconnect, possibly to another node. */
  GOING_AWAY: 1001,
  /** A text frame was not valid UTF-8. */
  INVALID_PAYLOAD: 1007,
  /** Policy violation (e.g. origin not allowed). */
  POLICY: 1008,
  /** A frame exceeded `maxPayloadBytes`. */
  TOO_LARGE: 1009,
  /** Internal server error. */
  INTERNAL: 1011,
  /** Unauthorized, or the token expired and was not refreshed in time. */
  UNAUTHORIZED: 4001,
  /** The client did not read fast enough (outbound buffer over `maxBufferedBytes`); reconnect and recover. */
  SLOW_CONSUMER: 4008,
  /** The client kept exceeding its rate limit. */
  RATE_LIMITED: 4029,
  /** The server is overloaded (connection limit or memory emergency); reconnect later or elsewhere. */
  OVERLOADED: 4503,
} as const;
/** One of {@link CloseCode}. */
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** The reserved channel that reaches every connection without a subscription. */
export const BROADCAST_CHANNEL = '*';

/** Prefix of channels that need authorization. */
export const PRIVATE_PREFIX = 'private-';
/** Prefix of channels that need authorization and track members. */
export const PRESENCE_PREFIX = 'presence-';
/** Prefix of a user's personal channel: `user:<userId>`. */
export const USER_PREFIX = 'user:';
/**
 * Prefix of the channels (and user ids) of a separate application namespace: `app:<appId>:<name>`, e.g. the Pusher
 * transport's second app. Reserved: clients of the native and Socket.IO transports may not name such channels, and
 * identities they authenticate with may not take such user ids.
 */
export const APP_PREFIX = 'app:';

/** A valid channel name (the reserved `*` aside). */
export const CHANNEL_NAME_PATTERN = /^[A-Za-z0-9_.:=@-]{1,200}$/;
/** A message id given by a publisher (an idempotency key): it is written into frames unescaped. */
export const MESSAGE_ID_PATTERN = /^[A-Za-z0-9_.:=@-]{1,64}$/;

/** The longest accepted event name. */
export const MAX_EVENT_LENGTH = 200;
