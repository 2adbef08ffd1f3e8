import { BROADCAST_CHANNEL, CHANNEL_NAME_PATTERN, MAX_EVENT_LENGTH, MESSAGE_ID_PATTERN } from './constants';
import type { ChannelName, MessageId } from './types';

/**
 * The rules for names and ids on the wire, and the messages that state them. The codec, the Hub, the client, the
 * HTTP API and the event sources all check with these, so a bad channel gets the same answer wherever it comes from.
 * Each `check…` function returns what is wrong (a message to put in an error), or `undefined` when the value is valid.
 */

/** The channel name rule as messages state it. */
export const CHANNEL_NAME_RULE = '1-200 characters of [A-Za-z0-9_.:=@-]';
/** The message id (idempotency key) rule as messages state it. */
export const MESSAGE_ID_RULE = '1-64 characters of [A-Za-z0-9_.:=@-]';

/** `true` when `name` is a valid channel name a client may use (`*` is not). */
export function isValidChannelName(name: unknown): name is ChannelName {
  return typeof name === 'string' && CHANNEL_NAME_PATTERN.test(name);
}

/** `true` for an event name: a non-empty string of at most {@link MAX_EVENT_LENGTH} characters. */
export function isValidEventName(event: unknown): event is string {
  return typeof event === 'string' && event.length > 0 && event.length <= MAX_EVENT_LENGTH;
}

/** `true` for a publisher-given message id (an idempotency key): {@link MESSAGE_ID_RULE}. */
export function isValidMessageId(id: unknown): id is MessageId {
  return typeof id === 'string' && MESSAGE_ID_PATTERN.test(id);
}

/** Options of {@link checkChannelName}. */
export interface ChannelCheckOptions {
  /** How the value is named in the message when it is not a string. @default '"channel"' */
  field?: string;
  /** `true` where the broadcast channel `*` is a valid target (publishing); subscribing to it is not. @default false */
  broadcast?: boolean;
}

/** What is wrong with a channel name, or `undefined` when it is valid. */
export function checkChannelName(name: unknown, options?: ChannelCheckOptions): string | undefined {
  if (typeof name !== 'string') return `${options?.field ?? '"channel"'} must be a string`;
  if (name === BROADCAST_CHANNEL) {
    return options?.broadcast === true
      ? undefined
      : '"*" is reserved for broadcasts to every connection; it needs no subscription';
  }
  if (CHANNEL_NAME_PATTERN.test(name)) return undefined;
  return `invalid channel name ${JSON.stringify(truncate(name, 60))}: use ${CHANNEL_NAME_RULE}${options?.broadcast === true ? ', or "*"' : ''}`;
}

/** What is wrong with an event name, or `undefined` when it is valid. `field` names it in the message. */
export function checkEventName(event: unknown, field = '"event"'): string | undefined {
  return isValidEventName(event)
    ? undefined
    : `${field} must be a non-empty string of at most ${MAX_EVENT_LENGTH} characters`;
}

/** What is wrong with a message id (idempotency key), or `undefined` when it is valid. `field` names it. */
export function checkMessageId(id: unknown, field = '"id"'): string | undefined {
  return isValidMessageId(id) ? undefined : `${field} (an idempotency key) must be ${MESSAGE_ID_RULE}`;
}

function truncate(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
