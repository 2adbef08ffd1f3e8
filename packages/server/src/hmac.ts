import { createHmac, timingSafeEqual } from 'node:crypto';

/** The string a Pusher-style signature covers. */
export function pusherSubject(connectionId: string, channel: string, channelData: string | undefined): string {
  return channelData === undefined ? `${connectionId}:${channel}` : `${connectionId}:${channel}:${channelData}`;
}

/** Hex HMAC-SHA256. */
export function hmacHex(secret: string | Uint8Array, subject: string): string {
  return createHmac('sha256', secret).update(subject).digest('hex');
}

/** Constant-time comparison of two hex signatures of the same length. */
export function sameSignature(expectedHex: string, givenHex: string): boolean {
  const a = Buffer.from(expectedHex, 'hex');
  const b = Buffer.from(givenHex, 'hex');
  return a.length === b.length && a.length > 0 && timingSafeEqual(a, b);
}
