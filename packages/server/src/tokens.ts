/**
 * Signing helpers for application backends: the connection tokens and subscription tokens a unisocket server
 * verifies. Import them from `@unisocket/server/tokens` in the service that logs users in (it pulls in no
 * WebSocket code).
 * @packageDocumentation
 */
import { type KeyObject, createPrivateKey } from 'node:crypto';
import { SignJWT } from 'jose';
import { hmacHex, pusherSubject } from './hmac';

/** The key a backend signs JWTs with: an HMAC secret, or a private key (PEM PKCS#8 or `KeyObject`). */
export interface SigningKey {
  /** An HMAC secret (HS256 by default), the same one the server verifies with (`auth.jwt.secret`). */
  secret?: string | Uint8Array;
  /** A private key (RS256, ES256, EdDSA by its type); the server verifies with its public key or a JWKS. */
  privateKey?: string | KeyObject;
  /**
   * The `alg` header.
   * @default 'HS256' for a secret; by key type for a private key: RSA 'RS256', EC P-256 'ES256', P-384 'ES384',
   *   P-521 'ES512', Ed25519 'EdDSA'
   */
  algorithm?: string;
  /** The `kid` header (lets a JWKS pick the key). */
  keyId?: string;
  /** The `iss` claim. */
  issuer?: string;
  /** The `aud` claim. */
  audience?: string | string[];
}

/** What {@link signConnectionToken} puts in a token. */
export interface ConnectionTokenOptions extends SigningKey {
  /** The user: the `sub` claim. */
  userId: string;
  /** Public info shown to presence members: the `info` claim. */
  info?: unknown;
  /**
   * Lifetime: seconds, or a span such as `'15m'` or `'1h'`. The server asks for a refresh before it ends.
   * @default '1h'
   */
  expiresIn?: number | string;
  /** More claims to include (they cannot override `sub`, `exp`, `iat`). */
  claims?: Record<string, unknown>;
}

/** What {@link signChannelToken} puts in a token. */
export interface ChannelTokenOptions extends SigningKey {
  /** The user the token is for (`sub`): it must be the subscribing connection's user. */
  userId: string;
  /** The `private-…` or `presence-…` channel it grants. */
  channel: string;
  /** The member's presence info (the `info` claim); defaults to the connection's. */
  info?: unknown;
  /**
   * Lifetime: seconds, or a span such as `'10m'`. Checked when subscribing.
   * @default '10m'
   */
  expiresIn?: number | string;
  /**
   * The claim holding the channel (the server's `auth.subscriptionTokens.channelClaim`).
   * @default 'channel'
   */
  channelClaim?: string;
}

/**
 * Signs a connection token: a JWT with `sub`, `info`, `iat` and `exp`.
 *
 * @example
 * ```ts
 * app.post('/login', async (req, res) => {
 *   const user = await checkPassword(req.body);
 *   res.json({ token: await signConnectionToken({ secret: process.env.JWT_SECRET!, userId: user.id, info: { name: user.name } }) });
 * });
 * ```
 */
export async function signConnectionToken(options: ConnectionTokenOptions): Promise<string> {
  const claims: Record<string, unknown> = { ...options.claims };
  if (options.info !== undefined) claims.info = options.info;
  return sign(claims, options.userId, options.expiresIn ?? '1h', options);
}

/**
 * Signs a subscription token for a private or presence channel: a JWT with `sub`, `channel`, `info` and `exp`. The
 * client sends it as `{"type":"subscribe","channel":…,"token":…}`.
 *
 * @example
 * ```ts
 * app.post('/broadcasting/auth', requireLogin, async (req, res) => {
 *   const { channel } = req.body;
 *   if (!(await mayJoin(req.user, channel))) return res.status(403).end();
 *   res.json({ token: await signChannelToken({ secret: process.env.JWT_SECRET!, userId: req.user.id, channel }) });
 * });
 * ```
 */
export async function signChannelToken(options: ChannelTokenOptions): Promise<string> {
  const claims: Record<string, unknown> = { [options.channelClaim ?? 'channel']: options.channel };
  if (options.info !== undefined) claims.info = options.info;
  return sign(claims, options.userId, options.expiresIn ?? '10m', options);
}

/** What {@link signPusherAuth} signs. */
export interface PusherAuthOptions {
  /** The key id (Pusher's app key), as configured in `auth.subscriptionTokens.hmac.key`. */
  key: string;
  /** The shared secret, as configured in `auth.subscriptionTokens.hmac.secret`. */
  secret: string | Uint8Array;
  /** The connection's id (`welcome.connectionId`), sent by the client to the backend. */
  connectionId: string;
  /** The `private-…` or `presence-…` channel. */
  channel: string;
  /** For presence channels: the member, `{ user_id, user_info? }` (an object, or its JSON text). */
  channelData?: string | { user_id: string | number; user_info?: unknown };
}

/** The answer of {@link signPusherAuth}: what the backend returns to the client (Pusher's `/auth` response shape). */
export interface PusherAuth {
  /** `<key>:<hex hmac-sha256>`: the subscribe command's `token`. */
  auth: string;
  /** The exact text that was signed: the subscribe command's `channelData`. */
  channel_data?: string;
}

/**
 * Signs a Pusher-style channel authorization: `<key>:<hex hmac-sha256(secret, "<connectionId>:<channel>")>`, or for
 * presence `"<connectionId>:<channel>:<channel_data>"`. The client subscribes with
 * `{"type":"subscribe","channel":…,"token":auth,"channelData":channel_data}`.
 */
export function signPusherAuth(options: PusherAuthOptions): PusherAuth {
  const channelData =
    options.channelData === undefined || typeof options.channelData === 'string'
      ? options.channelData
      : JSON.stringify(options.channelData);
  const signature = hmacHex(options.secret, pusherSubject(options.connectionId, options.channel, channelData));
  const out: PusherAuth = { auth: `${options.key}:${signature}` };
  if (channelData !== undefined) out.channel_data = channelData;
  return out;
}

async function sign(
  claims: Record<string, unknown>,
  userId: string,
  expiresIn: number | string,
  key: SigningKey,
): Promise<string> {
  if (typeof userId !== 'string' || userId.length === 0) throw new TypeError('userId must be a non-empty string');
  let signingKey: Uint8Array | KeyObject;
  let alg = key.algorithm;
  if (key.secret !== undefined && key.privateKey === undefined) {
    signingKey = typeof key.secret === 'string' ? new TextEncoder().encode(key.secret) : key.secret;
    alg ??= 'HS256';
  } else if (key.privateKey !== undefined && key.secret === undefined) {
    const privateKey = typeof key.privateKey === 'string' ? createPrivateKey(key.privateKey) : key.privateKey;
    signingKey = privateKey;
    alg ??= defaultAlgorithm(privateKey);
  } else {
    throw new TypeError('sign with exactly one of secret or privateKey');
  }
  const jwt = new SignJWT(claims)
    .setProtectedHeader(key.keyId === undefined ? { alg } : { alg, kid: key.keyId })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(typeof expiresIn === 'number' ? Math.floor(Date.now() / 1000) + expiresIn : expiresIn);
  if (key.issuer !== undefined) jwt.setIssuer(key.issuer);
  if (key.audience !== undefined) jwt.setAudience(key.audience);
  return jwt.sign(signingKey);
}

function defaultAlgorithm(key: KeyObject): string {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return 'RS256';
    case 'rsa-pss':
      return 'PS256';
    case 'ec':
      return (
        { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' }[key.asymmetricKeyDetails?.namedCurve ?? ''] ??
        'ES256'
      );
    case 'ed25519':
      return 'EdDSA';
    default:
      throw new TypeError(`cannot sign with a ${String(key.asymmetricKeyType)} key; use RSA, EC or Ed25519`);
  }
}
