import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** Hex HMAC-SHA256 of `payload` with `secret`: every Pusher signature is one. */
export function hmacHex(secret: string, payload: string | Buffer): string {
  return createHmac('sha256', secret).update(payload).digest('hex');
}

/** Hex MD5 of a request body (the REST API's `body_md5`). */
export function md5Hex(body: string | Buffer): string {
  return createHash('md5').update(body).digest('hex');
}

/** Compares two strings in time independent of where they differ (a length mismatch is `false` at once). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The `auth` a server gives a client for a private or presence channel: `key:hex(HMAC(secret,
 * socket_id:channel[:channel_data]))`.
 */
export function channelAuth(
  key: string,
  secret: string,
  socketId: string,
  channel: string,
  channelData?: string,
): string {
  const payload = channelData === undefined ? `${socketId}:${channel}` : `${socketId}:${channel}:${channelData}`;
  return `${key}:${hmacHex(secret, payload)}`;
}

/** Checks a channel `auth` in constant time. */
export function verifyChannelAuth(
  key: string,
  secret: string,
  socketId: string,
  channel: string,
  auth: unknown,
  channelData?: string,
): boolean {
  return typeof auth === 'string' && safeEqual(auth, channelAuth(key, secret, socketId, channel, channelData));
}

/** The `auth` of a user sign-in (`pusher:signin`): `key:hex(HMAC(secret, socket_id::user::user_data))`. */
export function userAuth(key: string, secret: string, socketId: string, userData: string): string {
  return `${key}:${hmacHex(secret, `${socketId}::user::${userData}`)}`;
}

/** Checks a sign-in `auth` in constant time. */
export function verifyUserAuth(
  key: string,
  secret: string,
  socketId: string,
  userData: string,
  auth: unknown,
): boolean {
  return typeof auth === 'string' && safeEqual(auth, userAuth(key, secret, socketId, userData));
}

/**
 * The string a REST request is signed over: `METHOD\npath\nquery`, the query being every parameter but
 * `auth_signature`, keys lower-cased and sorted, joined as `k=v&k=v` (values as sent, not re-encoded).
 */
export function restSigningString(method: string, path: string, query: Readonly<Record<string, string>>): string {
  const params = Object.keys(query)
    .filter((k) => k !== 'auth_signature')
    .map((k) => [k.toLowerCase(), query[k]!] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  return `${method.toUpperCase()}\n${path}\n${params}`;
}

/** The `auth_signature` of a REST request. */
export function restSignature(
  secret: string,
  method: string,
  path: string,
  query: Readonly<Record<string, string>>,
): string {
  return hmacHex(secret, restSigningString(method, path, query));
}

/** The `X-Pusher-Signature` of a webhook body: hex HMAC-SHA256 of the raw body with the app secret. */
export function webhookSignature(secret: string, body: string | Buffer): string {
  return hmacHex(secret, body);
}
