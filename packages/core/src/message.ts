import { createHash } from 'node:crypto';
import type { ChannelName, ConnectionId, Epoch, MessageId, Offset, UserId } from './protocol/types';

/**
 * Something to deliver to a channel's subscribers: the exact JSON text of one server frame, and its offset
 * (`-1` for unsequenced events such as presence join/leave, which are not part of the stream).
 */
export interface Deliverable {
  readonly line: string;
  readonly offset: Offset;
}

/**
 * A message of a channel's stream as it travels between the broker, the history and the Hub: serialized once,
 * at publish time, into `line` — the complete `{"type":"message",…}` frame as clients receive it.
 */
export interface StreamMessage extends Deliverable {
  readonly channel: ChannelName;
  readonly id: MessageId;
  readonly epoch: Epoch;
  /** Publish time, epoch ms (also inside `line`); used for history TTL. */
  readonly ts: number;
}

/**
 * A message on its way to the broker, before it has an offset. `head` is the message frame's JSON up to and
 * including `"offset":`; the broker completes it with `head + offset + "}"` once the offset is assigned, so the
 * payload is never re-serialized or parsed on its way.
 */
export interface PublishRequest {
  readonly channel: ChannelName;
  readonly id: MessageId;
  readonly head: string;
  readonly ts: number;
  /** `true` when `id` came from the publisher (an idempotency key): the broker must drop repeats of it. */
  readonly idempotent: boolean;
}

/** Where the broker put a published message. */
export interface PublishResult {
  readonly epoch: Epoch;
  readonly offset: Offset;
  /** The id was already published within the dedup window; `offset` is the original's. */
  readonly duplicate?: boolean;
}

/** Builds the `head` of a message frame (see {@link PublishRequest.head}). `channel` must be a valid name. */
export function messageHead(
  channel: ChannelName,
  event: string,
  dataJson: string,
  id: MessageId,
  ts: number,
  exceptKey?: string,
  userId?: UserId,
): string {
  // channel names, ids and exclusion keys are restricted to characters that need no JSON escaping
  const except = exceptKey === undefined ? '' : `"except":"${exceptKey}",`;
  const sender = userId === undefined ? '' : `"userId":${JSON.stringify(userId)},`;
  return `{"type":"message","channel":"${channel}",${except}${sender}"event":${JSON.stringify(event)},"data":${dataJson},"id":"${id}","ts":${ts},"offset":`;
}

const MESSAGE_PREFIX = '{"type":"message","channel":"';
const EXCEPT_KEY = '"except":"';

/**
 * The exclusion key of a message line (the opaque key of the connection it is not delivered to, see
 * {@link Connection.exceptKeys}), or `undefined`. The field sits at a fixed place right after the channel (see
 * {@link messageHead}), so finding it costs one comparison.
 */
export function exceptedConnection(line: string, channel: ChannelName): string | undefined {
  const at = MESSAGE_PREFIX.length + channel.length + 2;
  if (!line.startsWith(EXCEPT_KEY, at) || !line.startsWith(MESSAGE_PREFIX)) return undefined;
  const start = at + EXCEPT_KEY.length;
  return line.slice(start, line.indexOf('"', start));
}

/** Completes a `head` with its offset into the full frame line. */
export function completeLine(head: string, offset: Offset): string {
  return `${head}${offset}}`;
}

/** Builds a {@link StreamMessage} from a publish request and its assigned position. */
export function toStreamMessage(request: PublishRequest, epoch: Epoch, offset: Offset): StreamMessage {
  return {
    channel: request.channel,
    id: request.id,
    epoch,
    offset,
    ts: request.ts,
    line: completeLine(request.head, offset),
  };
}

/**
 * The exclusion key of a connection named by its id (`PublishOptions.exceptConnection`): a one-way hash of the id, so
 * the `except` field of a message does not reveal the connection to its other subscribers. Every connection matches
 * the key of its own id (see {@link Connection.exceptKeys}), on any node.
 */
export function exceptKeyOfConnection(id: ConnectionId): string {
  return `h${createHash('sha256').update(id).digest('base64url').slice(0, 22)}`;
}
