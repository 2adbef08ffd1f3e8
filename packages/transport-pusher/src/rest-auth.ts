import type { ResolvedPusherApp } from './options';
import { md5Hex, restSignature, safeEqual } from './signature';

/** How far `auth_timestamp` may be from the server's clock, in seconds (Pusher's window). */
export const REST_TIMESTAMP_WINDOW_SEC = 600;

/** A refused REST request: the HTTP status and a message that says what is wrong. */
export interface RestRefusal {
  status: number;
  message: string;
}

/** A REST request as signed: method, path, the query as sent (raw, undecoded text after `?`) and the body. */
export interface SignedRestRequest {
  method: string;
  path: string;
  rawQuery: string;
  body?: Buffer | string | undefined;
}

/**
 * Splits a raw query string into its parameters twice: the values as sent (what the Pusher SDKs sign: they do not
 * URL-encode) and URL-decoded (what SDKs that encode sign). A repeated key keeps its last value.
 */
export function parseRestQuery(rawQuery: string): { raw: Record<string, string>; decoded: Record<string, string> } {
  const raw: Record<string, string> = {};
  const decoded: Record<string, string> = {};
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = eq === -1 ? part : part.slice(0, eq);
    const value = eq === -1 ? '' : part.slice(eq + 1);
    raw[key] = value;
    decoded[decode(key)] = decode(value);
  }
  return { raw, decoded };
}

/**
 * Checks a REST request the way Pusher does: `auth_key` is the app's key, `auth_version` is `1.0`, `auth_timestamp`
 * is within ±{@link REST_TIMESTAMP_WINDOW_SEC} s of `nowSec`, `body_md5` is the hex MD5 of a non-empty body (and
 * absent or matching otherwise), and `auth_signature` is {@link restSignature} over method, path and query (compared
 * in constant time). Returns `undefined` when the request is authentic, else a 401 that says why.
 */
export function verifyRestRequest(
  app: ResolvedPusherApp,
  request: SignedRestRequest,
  nowSec: number = Date.now() / 1000,
): RestRefusal | undefined {
  const { raw, decoded } = parseRestQuery(request.rawQuery);
  const refuse = (message: string): RestRefusal => ({ status: 401, message });
  const key = decoded.auth_key;
  if (key === undefined || key === '') return refuse('auth_key is missing: sign the request with the app key');
  if (!safeEqual(key, app.key)) return refuse(`unknown auth_key for app ${app.id}`);
  const signature = decoded.auth_signature;
  if (signature === undefined || signature === '') return refuse('auth_signature is missing');
  if (decoded.auth_version !== undefined && decoded.auth_version !== '1.0') {
    return refuse(`auth_version must be 1.0, got ${JSON.stringify(decoded.auth_version)}`);
  }
  const timestamp = Number(decoded.auth_timestamp);
  if (decoded.auth_timestamp === undefined || !Number.isFinite(timestamp)) {
    return refuse('auth_timestamp is missing or not a number of seconds');
  }
  if (Math.abs(nowSec - timestamp) > REST_TIMESTAMP_WINDOW_SEC) {
    return refuse(
      `auth_timestamp is ${Math.round(nowSec - timestamp)} s from the server's time (at most ${REST_TIMESTAMP_WINDOW_SEC} s allowed): check the clock`,
    );
  }
  const body = request.body;
  const hasBody = body !== undefined && body.length > 0;
  if (hasBody || decoded.body_md5 !== undefined) {
    const expected = md5Hex(body ?? '');
    if (decoded.body_md5 === undefined) return refuse('body_md5 is missing: a request with a body signs its MD5');
    if (!safeEqual(decoded.body_md5.toLowerCase(), expected)) return refuse('body_md5 does not match the body');
  }
  const expectedRaw = restSignature(app.secret, request.method, request.path, raw);
  let ok = safeEqual(signature.toLowerCase(), expectedRaw);
  if (!ok && request.rawQuery.includes('%')) {
    ok = safeEqual(signature.toLowerCase(), restSignature(app.secret, request.method, request.path, decoded));
  }
  return ok ? undefined : refuse('invalid auth_signature: check the app secret and how the request is signed');
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}
