import type { KeyObject } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import {
  type ChannelName,
  type Connection,
  type Identity,
  type MaybePromise,
  type SubscribeContext,
  type SubscribeGrant,
  compilePattern,
} from '@unisocket/core';
import type { JWTPayload } from 'jose';

/** Keys that verify JWTs: exactly one of `secret`, `publicKey`, `jwksUrl`. */
export interface JwtKeyOptions {
  /**
   * The HMAC secret (HS256/HS384/HS512), at least 32 bytes (RFC 7518 §3.2).
   * @default undefined
   */
  secret?: string | Uint8Array;
  /**
   * A public key: PEM (SPKI or X.509 certificate) or a `KeyObject` (RS256…, PS256…, ES256/ES384/ES512, EdDSA).
   * @default undefined
   */
  publicKey?: string | KeyObject;
  /**
   * A JWKS URL (e.g. `https://issuer/.well-known/jwks.json`), fetched and cached by `jose.createRemoteJWKSet`;
   * a token's `kid` picks the key. When the keys cannot be fetched, upgrades get 503 and `auth` gets `UNAVAILABLE`.
   * @default undefined
   */
  jwksUrl?: string | URL;
  /**
   * Accepted `alg` values. Must fit the key: `HS*` for a secret, asymmetric algorithms for a public key or JWKS.
   * `none` is never accepted.
   * @default every algorithm that fits the key: ['HS256','HS384','HS512'] for a secret; for a public key the
   *   algorithms of its type (RSA: RS*, PS*; EC: the curve's ES*; Ed25519: EdDSA); for JWKS RS*, PS*, ES*, EdDSA
   */
  algorithms?: string[];
  /**
   * The required `iss` (one or several accepted).
   * @default undefined (not checked)
   */
  issuer?: string | string[];
  /**
   * The required `aud` (one or several accepted).
   * @default undefined (not checked)
   */
  audience?: string | string[];
  /**
   * Clock skew tolerated when checking `exp` and `nbf`, in seconds. It does not extend a connection: the
   * `refresh`/4001 timer runs on `exp` itself.
   * @default 5
   */
  clockToleranceSec?: number;
}

/** Connection tokens as JWTs. */
export interface JwtOptions extends JwtKeyOptions {
  /**
   * Refuse tokens without `exp`. A token without one would keep its connection authenticated forever.
   * @default true
   */
  requireExpiry?: boolean;
  /**
   * Maps verified claims to the identity. `userId` becomes the connection's user (`user:<userId>` is its personal
   * channel when it fits the channel alphabet); `info` is shown to presence members. `expiresAt` is always the
   * token's `exp` (a mapper cannot extend it). Return `null` to refuse the token.
   * @default (claims) => ({ userId: claims.sub, info: claims.info })
   */
  mapClaims?: (claims: JWTPayload) => MaybePromise<{ userId: string; info?: unknown } | null>;
}

/** Pusher-style HMAC channel authorization: `<key>:<hex hmac-sha256(secret, "<connectionId>:<channel>[:<channelData>]")>`. */
export interface HmacKey {
  /** The public key id that prefixes each signature (Pusher's app key). */
  key: string;
  /** The shared secret the backend signs with, at least 32 bytes. */
  secret: string | Uint8Array;
}

/**
 * Signed subscription tokens for `private-` and `presence-` channels, sent in the `subscribe` command's `token`.
 * A token that fits one of the configured forms decides the subscription on its own; without a token (or when the
 * form is not configured), `authorizeChannel` decides.
 */
export interface SubscriptionTokenOptions {
  /**
   * JWT subscription tokens: `sub` must be the connection's user, `channel` (see {@link channelClaim}) the channel,
   * `exp` is required; an `info` claim becomes the presence info. `true` verifies them with `auth.jwt`'s keys,
   * an object with keys of their own, `false` turns them off.
   * @default true when `auth.jwt` is set, otherwise false
   */
  jwt?: boolean | JwtKeyOptions;
  /**
   * Pusher-style HMAC signatures, bound to the connection id (`welcome.connectionId`). On presence channels the
   * signed `channelData` (`{"user_id":…,"user_info":…}`) names the member, so an anonymous connection can join with
   * the identity the backend vouched for. Several keys may be listed to rotate secrets.
   * @default undefined (off)
   */
  hmac?: HmacKey | HmacKey[];
  /**
   * The claim of a JWT subscription token that holds the channel. Connection tokens carrying it are refused, so one
   * kind of token cannot stand in for the other.
   * @default 'channel'
   */
  channelClaim?: string;
}

/** What {@link AuthOptions.authenticate} receives. */
export interface AuthRequest {
  /**
   * The token found in the request (header, query, cookie), in the Socket.IO handshake (`auth.token`), or sent with
   * the `auth` command.
   */
  token: string | undefined;
  /** Where the token came from. */
  source: 'handshake' | 'header' | 'query' | 'cookie' | 'command' | undefined;
  /** The upgrade request (at upgrade time; Socket.IO: its first handshake request), to read a session cookie or another header. */
  request: IncomingMessage | undefined;
  /** The connection (for the `auth` command). */
  connection: Connection | undefined;
}

/** Authentication and channel authorization. */
export interface AuthOptions {
  /**
   * Connection tokens as JWTs (Centrifugo-style): `sub` becomes the user, `info` the presence info, and `exp` is
   * enforced during the connection (`refresh` frame, then 4001). Exclusive with {@link authenticate}.
   * @default undefined (no JWT authentication)
   */
  jwt?: JwtOptions;
  /**
   * A custom scheme instead of JWT: called at upgrade (with the request and the token found in it, if any) and for
   * each `auth` command (with the connection and its token). Return the identity, `null` for anonymous, or throw a
   * `UnisocketError` to refuse with its code and message (at upgrade: its `httpStatus`, default 401; e.g.
   * `UNAVAILABLE`/503 when a session store is down). Any other error refuses with 401 "authentication failed".
   * Exclusive with {@link jwt}.
   * @default undefined
   */
  authenticate?: (request: AuthRequest) => MaybePromise<Identity | null | undefined>;
  /**
   * Refuse upgrades without a valid token (HTTP 401). Otherwise anonymous connections are accepted and may send
   * `auth` later (browsers cannot set headers; the query parameter and the cookie are the other ways in).
   * @default false
   */
  required?: boolean;
  /**
   * The query parameter a token may come in (`/ws?token=…`); `false` to accept tokens only in the
   * `Authorization: Bearer` header, a cookie or the `auth` command (query strings end up in access logs).
   * @default 'token'
   */
  queryParam?: string | false;
  /**
   * The cookie a token may come in. Cookies ride along cross-site: with a cookie set, `security.allowedOrigins`
   * must be set too (cross-site WebSocket hijacking).
   * @default undefined (no cookie)
   */
  cookie?: string;
  /**
   * Decides subscriptions to public, private and presence channels that no subscription token decided. Return
   * `true` (or a grant with presence `info`) to allow, `false` to refuse, or throw a `UnisocketError` with a
   * message that says why. Without it, public channels are open and private/presence channels need a token.
   * @default undefined
   */
  authorizeChannel?: (
    conn: Connection,
    channel: ChannelName,
    context: SubscribeContext,
  ) => MaybePromise<boolean | SubscribeGrant>;
  /** Signed subscription tokens for private and presence channels. */
  subscriptionTokens?: SubscriptionTokenOptions;
  /**
   * How long before a token's expiry the server sends `{"type":"refresh"}`, in ms (halfway through the remaining
   * lifetime when that is shorter).
   * @default 30_000
   */
  refreshLeadMs?: number;
  /**
   * How long after a token's expiry a connection may still send `auth` with a fresh token before it is closed
   * with 4001, in ms.
   * @default 10_000
   */
  refreshGraceMs?: number;
}

/** Defaults of {@link AuthOptions}. */
export const DEFAULT_AUTH_OPTIONS = {
  required: false,
  queryParam: 'token',
  refreshLeadMs: 30_000,
  refreshGraceMs: 10_000,
  clockToleranceSec: 5,
  requireExpiry: true,
  channelClaim: 'channel',
} as const;

/** Who may publish from a client. */
export interface PermissionOptions {
  /**
   * Channel patterns clients may publish on: `*` matches any run of characters within a name (`chat.*`), and
   * the kind keywords `public`, `private`, `presence` match every channel of that kind. Or a function deciding each
   * publish. Clients may not publish at all by default. Whatever this says, a client publishes on a private or
   * presence channel only while subscribed to it (authorized).
   * @default []
   */
  publish?: string[] | ((conn: Connection, channel: ChannelName, event: string) => MaybePromise<boolean>);
  /**
   * Whispers (Laravel Echo / Pusher client events): a connection subscribed to a private or presence channel may
   * publish events named `client-…` on it, which reach the channel's subscribers (the sender included).
   * @default false
   */
  whisper?: boolean;
}

/** Who may connect at all: origins and proxies. */
export interface SecurityOptions {
  /**
   * Browser origins allowed to open a WebSocket: exact origins (`https://app.example.com`), a wildcard subdomain
   * (`https://*.example.com`), or `'*'` for any. A browser upgrade from another origin gets HTTP 403 before the
   * WebSocket exists. Must be set when `auth.cookie` is.
   * @default ['*']
   */
  allowedOrigins?: string[];
  /**
   * Accept upgrades without an `Origin` header (non-browser clients: Node, mobile apps, curl).
   * @default true
   */
  allowMissingOrigin?: boolean;
  /**
   * Accept a browser upgrade whose `Origin` is this server itself (its host and port equal the `Host` header), even
   * when `allowedOrigins` does not list it: a page served by the same host is not cross-site.
   * @default true
   */
  allowSameOrigin?: boolean;
  /**
   * Trust `X-Forwarded-For` from this many proxy hops in front of the server (`true` is one) to find the client's
   * address for `maxConnectionsPerIp` and `conn.ip`. Leave it off when clients connect directly: they could forge it.
   * @default false
   */
  trustProxy?: boolean | number;
}

/** Defaults of {@link SecurityOptions}. */
export const DEFAULT_SECURITY_OPTIONS = {
  allowedOrigins: ['*'],
  allowMissingOrigin: true,
  allowSameOrigin: true,
  trustProxy: false,
} as const;

/** Compiles publish permissions into a predicate. */
export function compilePublishPermission(
  publish: PermissionOptions['publish'],
): ((conn: Connection, channel: ChannelName, event: string) => MaybePromise<boolean>) | undefined {
  if (publish === undefined) return undefined;
  if (typeof publish === 'function') return publish;
  if (!Array.isArray(publish) || publish.some((p) => typeof p !== 'string' || p.length === 0)) {
    throw new TypeError('permissions.publish must be an array of channel patterns or a function');
  }
  if (publish.length === 0) return undefined;
  const matchers = publish.map(compilePattern);
  return (_conn, channel) => matchers.some((m) => m(channel));
}
