import type { EventEmitter } from 'node:events';
import type { Broker } from '../broker';
import type { Connection } from '../connection';
import { exceptKeyOfConnection, messageHead } from '../message';
import { ErrorCode } from '../protocol/constants';
import { UnisocketError } from '../protocol/errors';
import type { AckFrame, ChannelName, MessageId, PublishCommand } from '../protocol/types';
import { checkChannelName, checkEventName, checkMessageId, isValidMessageId } from '../protocol/validate';
import { type IdGenerator, type MaybePromise, isPromiseLike, settle } from '../util';
import type { ClientPublish, HubEvents, HubStats } from './events';
import type { HubPolicy, PublishAck, PublishOptions } from './options';
import { type Replies, badRequest, refOpt, withErrorContext, withRef } from './replies';
import type { Reply } from './reply';

/** Only the broadcast channel may be published to without being a client channel name. */
const PUBLISH_CHANNEL = { field: 'channel', broadcast: true } as const;

/**
 * Publishing: a message is checked and serialized once here (its frame's head; the broker completes it with the
 * offset), then handed to the broker, which dispatches it to every node with subscribers. The `publish` command
 * adds {@link HubPolicy.authorizePublish} and the `clientPublish` event.
 */
export class Publisher {
  readonly #broker: Broker;
  readonly #ids: IdGenerator;
  readonly #policy: HubPolicy;
  readonly #stats: HubStats;
  readonly #events: EventEmitter<HubEvents>;
  readonly #replies: Replies;

  constructor(
    broker: Broker,
    ids: IdGenerator,
    policy: HubPolicy,
    stats: HubStats,
    events: EventEmitter<HubEvents>,
    replies: Replies,
  ) {
    this.#broker = broker;
    this.#ids = ids;
    this.#policy = policy;
    this.#stats = stats;
    this.#events = events;
    this.#replies = replies;
  }

  /** See {@link Hub.publish}. */
  publish(channel: ChannelName, event: string, data: unknown, options: PublishOptions): MaybePromise<PublishAck> {
    const channelProblem = checkChannelName(channel, PUBLISH_CHANNEL);
    if (channelProblem !== undefined) throw badRequest(channelProblem);
    const eventProblem = checkEventName(event, 'event');
    if (eventProblem !== undefined) throw badRequest(eventProblem);
    let dataJson: string | undefined;
    try {
      dataJson = JSON.stringify(data === undefined ? null : data);
    } catch (error) {
      throw new UnisocketError(ErrorCode.BAD_REQUEST, `data is not JSON-serializable: ${(error as Error).message}`, {
        cause: error,
      });
    }
    if (dataJson === undefined) throw badRequest('data is not JSON-serializable (a function or a symbol)');
    const idempotent = options.id !== undefined;
    if (idempotent) {
      const idProblem = checkMessageId(options.id, 'a message id');
      if (idProblem !== undefined) throw badRequest(idProblem);
    }
    const exceptConnection = options.exceptConnection;
    let except = options.exceptKey;
    if (exceptConnection !== undefined) {
      if (!isValidMessageId(exceptConnection)) throw badRequest('exceptConnection must be a connection id');
      except = exceptKeyOfConnection(exceptConnection);
    } else if (except !== undefined && !isValidMessageId(except)) {
      throw badRequest('exceptKey must be 1-64 characters of [A-Za-z0-9_.:=@-]');
    }
    const id = options.id ?? this.#ids.next();
    const ts = Date.now();
    const result = this.#broker.publish({
      channel,
      id,
      head: messageHead(channel, event, dataJson, id, ts, except, options.userId),
      ts,
      idempotent,
    });
    this.#stats.published++;
    this.#stats.lastPublishAt = ts;
    if (isPromiseLike(result)) {
      return result.then((r) => toAck(id, channel, r.epoch, r.offset, r.duplicate));
    }
    return toAck(id, channel, result.epoch, result.offset, result.duplicate);
  }

  /** The `publish` command: authorized, published, acked, then announced as `clientPublish`. */
  command(conn: Connection, cmd: PublishCommand, reply: Reply): void {
    const { channel, event, ref } = cmd;
    const hook = this.#policy.authorizePublish;
    const replies = this.#replies;
    settle(
      () => (hook === undefined ? false : hook(conn, channel, event)),
      (allowed) => {
        if (conn.closed) return;
        if (!allowed) {
          replies.fail(
            conn,
            new UnisocketError(
              ErrorCode.FORBIDDEN,
              hook === undefined
                ? `clients may not publish on "${channel}": the server allows no client publishes (see the publish permissions option)`
                : `publishing "${event}" on "${channel}" is not allowed for this connection`,
              { ...refOpt(ref), channel },
            ),
            reply,
          );
          return;
        }
        settle(
          () => this.publish(channel, event, cmd.data, publishOptions(conn, cmd)),
          (ack) => {
            const frame: AckFrame = withRef({ type: 'ack', channel, id: ack.id, offset: ack.offset }, ref);
            if (ack.duplicate === true) frame.duplicate = true;
            replies.reply(conn, reply, frame);
            if (ack.duplicate !== true && this.#events.listenerCount('clientPublish') > 0) {
              const published: ClientPublish = {
                conn,
                channel,
                event,
                data: cmd.data,
                id: ack.id,
                epoch: ack.epoch,
                offset: ack.offset,
              };
              this.#events.emit('clientPublish', published);
            }
          },
          (error) => replies.fail(conn, withErrorContext(error, ref, channel, ErrorCode.INTERNAL), reply),
        );
      },
      (error) => replies.fail(conn, withErrorContext(error, ref, channel, ErrorCode.FORBIDDEN), reply),
    );
  }
}

function publishOptions(conn: Connection, cmd: PublishCommand): PublishOptions {
  const options: PublishOptions = {};
  if (cmd.id !== undefined) options.id = cmd.id;
  if (cmd.exceptSender === true) options.exceptKey = conn.exceptKey;
  if (cmd.senderUserId !== undefined) options.userId = cmd.senderUserId;
  return options;
}

function toAck(
  id: MessageId,
  channel: ChannelName,
  epoch: string,
  offset: number,
  duplicate: boolean | undefined,
): PublishAck {
  const ack: PublishAck = { id, channel, epoch, offset };
  if (duplicate === true) ack.duplicate = true;
  return ack;
}
