import {
  type ChannelName,
  CloseCode,
  ErrorCode,
  type PublishCommand,
  UnisocketError,
  checkChannelName,
  checkEventName,
  checkMessageId,
} from '@unisocket/core/protocol';
import type { ClientContext } from './context';
import { encodeCommand } from './frames';
import { PublishIdGenerator } from './ids';
import type { Link } from './link';
import type { OutgoingCommand } from './transport';
import type { ConnectionStatus, PublishOptions, PublishResult } from './types';

interface PendingPublish {
  readonly id: string;
  readonly ref: number;
  readonly channel: ChannelName;
  readonly out: OutgoingCommand;
  readonly reject: (error: UnisocketError) => void;
  /** The link it was last sent on (`undefined`: not sent on the current connection). */
  sentOn: Link | undefined;
  /** Sent at least once: the server may have published it. */
  everSent: boolean;
}

/**
 * The client's publishes until their ack: each carries an idempotency id, waits (bounded) while the client is not
 * connected, is sent again with the same id and ref after a reconnect, and times out from the call.
 * @internal
 */
export class PublishQueue {
  readonly #context: ClientContext;
  /** The client's status when it stopped trying to connect; `undefined` while it connects, is connected, or is idle. */
  readonly #stopped: () => ConnectionStatus | undefined;
  readonly #ids = new PublishIdGenerator();
  readonly #pending = new Map<number, PendingPublish>();

  constructor(context: ClientContext, stopped: () => ConnectionStatus | undefined) {
    this.#context = context;
    this.#stopped = stopped;
  }

  /** Publishes waiting for their ack (queued, or in flight). */
  get size(): number {
    return this.#pending.size;
  }

  /** See `UnisocketClient.publish`. */
  publish(channel: ChannelName, event: string, data: unknown, options: PublishOptions): Promise<PublishResult> {
    const { options: limits, requests } = this.#context;
    const badChannel = checkChannelName(channel);
    if (badChannel !== undefined) return Promise.reject(new UnisocketError(ErrorCode.BAD_REQUEST, badChannel));
    const badEvent = checkEventName(event);
    if (badEvent !== undefined) {
      return Promise.reject(new UnisocketError(ErrorCode.BAD_REQUEST, badEvent, { channel }));
    }
    const id = options.id ?? this.#ids.next();
    const badId = checkMessageId(id, 'options.id');
    if (badId !== undefined) return Promise.reject(new UnisocketError(ErrorCode.BAD_REQUEST, badId, { channel }));
    const ref = requests.nextRef();
    const command: PublishCommand = { type: 'publish', channel, event, ref, id };
    if (data !== undefined) command.data = data;
    let out: OutgoingCommand;
    try {
      out = encodeCommand(command);
    } catch (error) {
      return Promise.reject(
        new UnisocketError(ErrorCode.BAD_REQUEST, `data is not JSON-serializable: ${(error as Error).message}`, {
          channel,
          cause: error,
        }),
      );
    }
    if (out.bytes > limits.maxPayloadBytes) {
      return Promise.reject(
        new UnisocketError(
          ErrorCode.PAYLOAD_TOO_LARGE,
          `the publish is ${out.bytes} bytes, over maxPayloadBytes (${limits.maxPayloadBytes}); send less data`,
          { channel },
        ),
      );
    }
    const link = this.#context.readyLink();
    if (link === undefined && this.#pending.size >= limits.maxQueuedPublishes) {
      return Promise.reject(
        new UnisocketError(
          ErrorCode.LIMIT_EXCEEDED,
          `the offline publish queue is full (${limits.maxQueuedPublishes} publishes wait for the connection); wait for status "connected" or raise maxQueuedPublishes`,
          { channel },
        ),
      );
    }
    const stopped = link === undefined ? this.#stopped() : undefined;
    if (stopped !== undefined) {
      return Promise.reject(
        new UnisocketError(ErrorCode.UNAVAILABLE, `the client is ${stopped}: call connect() before publishing`, {
          channel,
        }),
      );
    }
    return new Promise<PublishResult>((resolve, reject) => {
      const pending: PendingPublish = { id, ref, channel, out, reject, sentOn: undefined, everSent: false };
      requests.add(
        ref,
        {
          ack: (ack) => {
            this.#settle(pending);
            resolve({ id: ack.id ?? id, channel, offset: ack.offset ?? -1, duplicate: ack.duplicate === true });
          },
          refused: (error) => {
            this.#settle(pending);
            reject(error);
          },
          timedOut: () => this.#timedOut(pending),
          // kept: sent again, with the same ref and id, on the next connection
          detached: () => {
            pending.sentOn = undefined;
            return true;
          },
        },
        limits.publishTimeoutMs,
      );
      this.#pending.set(ref, pending);
      this.#context.store.changed();
      if (link !== undefined) {
        pending.sentOn = link;
        pending.everSent = true;
        link.enqueue(out);
      }
    });
  }

  /** Every pending publish, in order, marked as sent on `link` (a connection just opened). */
  sendOn(link: Link): OutgoingCommand[] {
    const out: OutgoingCommand[] = [];
    for (const p of this.#pending.values()) {
      if (p.everSent) this.#context.stats.publishesResent++;
      p.sentOn = link;
      p.everSent = true;
      out.push(p.out);
    }
    return out;
  }

  /** The client stopped: every pending publish is rejected, saying whether it may have been published. */
  rejectAll(reason: UnisocketError): void {
    for (const p of [...this.#pending.values()]) {
      this.#settle(p);
      p.reject(
        new UnisocketError(
          ErrorCode.UNAVAILABLE,
          p.everSent
            ? `the client stopped (${reason.message}) before publish "${p.id}" was acknowledged; it may have been published: retry with { id: "${p.id}" } to publish it at most once`
            : `the client stopped (${reason.message}) before publish "${p.id}" was sent; it was not published`,
          { channel: p.channel, cause: reason },
        ),
      );
    }
  }

  /** On close 1009 the frame that was too large most likely held the largest unacknowledged publish: drop it. */
  rejectLargest(link: Link): void {
    let largest: PendingPublish | undefined;
    for (const p of this.#pending.values()) {
      if (p.sentOn === link && (largest === undefined || p.out.bytes > largest.out.bytes)) largest = p;
    }
    if (largest === undefined) return;
    this.#settle(largest);
    largest.reject(
      new UnisocketError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        `the server closed the connection with 1009 (frame too large) after publish "${largest.id}" (${largest.out.bytes} bytes); set maxPayloadBytes to the server's limits.maxPayloadBytes`,
        { channel: largest.channel, closeCode: CloseCode.TOO_LARGE },
      ),
    );
  }

  #timedOut(p: PendingPublish): void {
    if (this.#pending.get(p.ref) !== p) return;
    this.#settle(p);
    const ms = this.#context.options.publishTimeoutMs;
    p.reject(
      new UnisocketError(
        ErrorCode.UNAVAILABLE,
        p.everSent
          ? `no ack for publish "${p.id}" within publishTimeoutMs (${ms} ms); it may have been published: retry with { id: "${p.id}" } to publish it at most once`
          : `publish "${p.id}" waited publishTimeoutMs (${ms} ms) for a connection; it was not sent`,
        { channel: p.channel },
      ),
    );
  }

  #settle(p: PendingPublish): void {
    this.#context.requests.delete(p.ref);
    this.#pending.delete(p.ref);
    this.#context.store.changed();
  }
}
