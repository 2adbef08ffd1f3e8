import { createHmac, timingSafeEqual } from 'node:crypto';
import { appScopeLength } from '@unisocket/core';
import { pusherChannelOf, pusherUserOf } from '@unisocket/transport-pusher';
import type { LifecycleEvent } from './events';

/** The Pusher webhook body: `{ time_ms, events }`. */
export interface WebhookBody {
  /** When the batch was made (epoch ms). */
  time_ms: number;
  /** The events, channel names and user ids as the app's clients know them. */
  events: LifecycleEvent[];
}

/** The app namespace of an event (`''` or `app:<id>:`): its channel's, or for a connection event its user's. */
export function eventScope(event: LifecycleEvent): string {
  const name = 'channel' in event ? event.channel : event.user_id;
  if (typeof name !== 'string') return '';
  const length = appScopeLength(name);
  return length === 0 ? '' : name.slice(0, length);
}

/**
 * An event as its app's receivers know it: the app namespace removed from the channel (a personal channel as
 * `#server-to-user-<id>`) and from the user id; only Pusher's fields (and the documented unisocket ones) are kept.
 */
export function webhookEventOf(event: LifecycleEvent): LifecycleEvent {
  switch (event.name) {
    case 'channel_occupied':
    case 'channel_vacated':
    case 'cache_miss':
      return { name: event.name, channel: pusherChannelOf(event.channel) };
    case 'member_added':
    case 'member_removed':
      return { name: event.name, channel: pusherChannelOf(event.channel), user_id: pusherUserOf(event.user_id) };
    case 'client_event': {
      const out: LifecycleEvent = {
        name: event.name,
        channel: pusherChannelOf(event.channel),
        event: event.event,
        data: event.data,
      };
      if (event.socket_id !== undefined) out.socket_id = event.socket_id;
      if (event.user_id !== undefined) out.user_id = pusherUserOf(event.user_id);
      return out;
    }
    case 'connection_opened':
    case 'connection_closed': {
      const out: LifecycleEvent = {
        name: event.name,
        connection_id: event.connection_id,
        transport: event.transport,
        node_id: event.node_id,
      };
      if (event.user_id !== undefined) out.user_id = pusherUserOf(event.user_id);
      return out;
    }
  }
}

/** The raw body of one webhook request: `{"time_ms":…,"events":[…]}`. */
export function webhookBody(events: readonly LifecycleEvent[], timeMs: number): string {
  return JSON.stringify({ time_ms: timeMs, events });
}

/** `X-Pusher-Signature`: the hex HMAC-SHA256 of the raw body (its UTF-8 bytes, as sent) with the secret. */
export function webhookSignature(secret: string, rawBody: string | Uint8Array): string {
  return createHmac('sha256', secret).update(rawBody).digest('hex');
}

/** The request headers of a webhook: the endpoint's own, then `Content-Type` and the two Pusher headers. */
export function webhookHeaders(
  endpoint: { readonly key: string; readonly secret: string; readonly headers?: Readonly<Record<string, string>> },
  rawBody: string | Uint8Array,
): Record<string, string> {
  return {
    ...endpoint.headers,
    'Content-Type': 'application/json',
    'X-Pusher-Key': endpoint.key,
    'X-Pusher-Signature': webhookSignature(endpoint.secret, rawBody),
  };
}

/**
 * Checks a received webhook as a Pusher receiver does: the key matches and the signature is the body's HMAC with
 * the secret (constant time). For receivers written with unisocket; the `pusher` SDK's `webhook(…).isValid()` agrees.
 */
export function verifyWebhook(
  request: { headers: Record<string, string | string[] | undefined>; rawBody: string | Uint8Array },
  credentials: { key: string; secret: string },
): boolean {
  const header = (name: string): string | undefined => {
    const value = request.headers[name] ?? request.headers[name.toLowerCase()];
    return Array.isArray(value) ? value[0] : value;
  };
  if (header('X-Pusher-Key') !== credentials.key) return false;
  const given = header('X-Pusher-Signature');
  if (given === undefined || !/^[0-9a-f]{64}$/i.test(given)) return false;
  const expected = Buffer.from(webhookSignature(credentials.secret, request.rawBody), 'hex');
  return timingSafeEqual(expected, Buffer.from(given, 'hex'));
}
