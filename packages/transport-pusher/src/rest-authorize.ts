import { channelAuth, userAuth } from './signature';

/** The key and secret of the app that signs (a `ResolvedPusherApp` or `PusherAppOptions` fits). */
export interface PusherSigningApp {
  key: string;
  secret: string;
}

/** Options of {@link authorizePusherChannel}. */
export interface AuthorizePusherChannelOptions {
  app: PusherSigningApp;
  /** The `socket_id` the client sent (`1234.5678`). */
  socketId: string;
  /** The `channel_name` the client sent: `private-…`, `private-encrypted-…` or `presence-…`. */
  channel: string;
  /** The member's user id: required for presence channels, ignored for private ones. */
  userId?: string | number;
  /** The member's public info (presence `user_info`). */
  userInfo?: unknown;
}

/** What a channel authorization endpoint answers (Pusher's JSON): `auth`, and `channel_data` for presence. */
export interface PusherChannelAuthorization {
  auth: string;
  channel_data?: string;
}

/** Options of {@link authenticatePusherUser}. */
export interface AuthenticatePusherUserOptions {
  app: PusherSigningApp;
  socketId: string;
  /** The user's id (`user_data.id`). */
  userId: string | number;
  /** Public info about the user (`user_data.user_info`). */
  userInfo?: unknown;
  /** Users whose online status the user follows (`user_data.watchlist`). */
  watchlist?: string[];
}

/** What a user authentication endpoint answers (Pusher's JSON): `auth` and `user_data`. */
export interface PusherUserAuthentication {
  auth: string;
  user_data: string;
}

const SOCKET_ID = /^\d{1,20}\.\d{1,20}$/;
const CHANNEL = /^[A-Za-z0-9_\-=@,.;]{1,200}$/;

/**
 * Signs a client's subscription to a private or presence channel, as Pusher's server SDKs' `authorizeChannel` do:
 * the answer of a channel authorization endpoint (Laravel Echo's `POST /broadcasting/auth`). For `presence-…`
 * channels `channel_data` is `{"user_id": …, "user_info": …}`.
 * @throws {TypeError} for a malformed `socketId` or channel, a public channel, or a presence channel without `userId`
 */
export function authorizePusherChannel(options: AuthorizePusherChannelOptions): PusherChannelAuthorization {
  const { app, socketId, channel } = options;
  checkSocketId(socketId);
  if (typeof channel !== 'string' || !CHANNEL.test(channel)) {
    throw new TypeError(`invalid channel_name ${JSON.stringify(channel)}`);
  }
  if (channel.startsWith('presence-')) {
    if (options.userId === undefined || options.userId === '') {
      throw new TypeError('a presence channel needs the user id of the member');
    }
    const member: { user_id: string | number; user_info?: unknown } = { user_id: options.userId };
    if (options.userInfo !== undefined) member.user_info = options.userInfo;
    const channelData = JSON.stringify(member);
    return { auth: channelAuth(app.key, app.secret, socketId, channel, channelData), channel_data: channelData };
  }
  if (!channel.startsWith('private-')) {
    throw new TypeError(`${channel} is a public channel: it needs no authorization`);
  }
  return { auth: channelAuth(app.key, app.secret, socketId, channel) };
}

/**
 * Signs a user sign-in (`pusher:signin`), as Pusher's server SDKs' `authenticateUser` do: the answer of a user
 * authentication endpoint (Laravel Echo's `POST /broadcasting/user-auth`).
 * @throws {TypeError} for a malformed `socketId` or an empty `userId`
 */
export function authenticatePusherUser(options: AuthenticatePusherUserOptions): PusherUserAuthentication {
  checkSocketId(options.socketId);
  if (options.userId === undefined || options.userId === '') throw new TypeError('the user id must not be empty');
  const user: { id: string | number; user_info?: unknown; watchlist?: string[] } = { id: options.userId };
  if (options.userInfo !== undefined) user.user_info = options.userInfo;
  if (options.watchlist !== undefined) user.watchlist = options.watchlist;
  const userData = JSON.stringify(user);
  return { auth: userAuth(options.app.key, options.app.secret, options.socketId, userData), user_data: userData };
}

/** The fields of an auth endpoint's request, from a form (`application/x-www-form-urlencoded`) or JSON body. */
export interface PusherAuthRequest {
  socketId: string | undefined;
  channelName: string | undefined;
}

/**
 * Reads `socket_id` and `channel_name` from the body of an auth request: pusher-js and Laravel Echo send a form;
 * JSON (`application/json`) is read as well. Anything unreadable gives `undefined` fields.
 */
export function readPusherAuthRequest(body: string | Buffer, contentType = ''): PusherAuthRequest {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  if (/^application\/([\w.+-]+\+)?json/i.test(contentType) || text.trimStart().startsWith('{')) {
    try {
      const parsed = JSON.parse(text) as Record<string, unknown>;
      return { socketId: stringOf(parsed?.socket_id), channelName: stringOf(parsed?.channel_name) };
    } catch {
      return { socketId: undefined, channelName: undefined };
    }
  }
  const form = new URLSearchParams(text);
  return { socketId: form.get('socket_id') ?? undefined, channelName: form.get('channel_name') ?? undefined };
}

function stringOf(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function checkSocketId(socketId: unknown): void {
  if (typeof socketId !== 'string' || !SOCKET_ID.test(socketId)) {
    throw new TypeError(`invalid socket_id ${JSON.stringify(socketId)}: expected two integers joined by a dot`);
  }
}
