import { userChannel } from '../protocol/channel';
import type { ChannelName, UserId } from '../protocol/types';

/**
 * The start of the control line that closes a user's connections on every node ({@link Hub.disconnectUser}). It
 * travels as a volatile line on the user's personal channel, which every node holding a connection of that user has
 * at the broker. Only the Hub sends volatile lines (presence events begin `{"type":"presence"`), clients never do,
 * and the Hub checks for it only on the volatile path: no client frame and no published message can be taken for it.
 */
export const TERMINATE_PREFIX = '{"type":"_terminate",';

/** What a terminate line asks: close `userId`'s connections with `code` and `reason`. */
export interface TerminateRequest {
  userId: UserId;
  code: number;
  reason: string;
}

/** The control line for {@link TerminateRequest}. */
export function terminateLine(request: TerminateRequest): string {
  const { userId, code, reason } = request;
  return TERMINATE_PREFIX + JSON.stringify({ userId, code, reason }).slice(1);
}

/**
 * The request of a line starting with {@link TERMINATE_PREFIX}, or `undefined` when it is malformed or does not
 * belong to `channel` (a terminate line names the user whose personal channel carries it).
 */
export function readTerminate(channel: ChannelName, line: string): TerminateRequest | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  const { userId, code, reason } = (value ?? {}) as Record<string, unknown>;
  if (typeof userId !== 'string' || typeof reason !== 'string' || !isCloseCode(code)) return undefined;
  if (userChannel(userId) !== channel) return undefined;
  return { userId, code, reason };
}

/** A close code an application may send: 1000, 1001, 1008, 1011, or 3000–4999. */
export function isCloseCode(code: unknown): code is number {
  if (typeof code !== 'number' || !Number.isInteger(code)) return false;
  return code === 1000 || code === 1001 || code === 1008 || code === 1011 || (code >= 3000 && code <= 4999);
}
