import type { EventEmitter } from 'node:events';
import type { Connection } from '../connection';
import type { ChannelKind } from '../protocol/channel';
import { ErrorCode } from '../protocol/constants';
import { UnisocketError, isUnisocketError } from '../protocol/errors';
import type { AckFrame, ChannelName, Ref, ServerFrame } from '../protocol/types';
import type { HubEvents, HubStats } from './events';
import type { ConnectionRegistry } from './registry';
import { NO_REPLY, type ReplyOrNone } from './reply';

/**
 * Answers to commands: every command line gets exactly one (`ack`, `error` or `pong`). Replies are bounded like
 * messages: a client that sends but never reads is closed as a slow consumer instead of growing its buffer.
 */
export class Replies {
  /** `limits.maxBufferedBytes`, kept current by the Hub. */
  maxBuffered: number;
  readonly #stats: HubStats;
  readonly #events: EventEmitter<HubEvents>;
  readonly #connections: ConnectionRegistry;

  constructor(maxBuffered: number, stats: HubStats, events: EventEmitter<HubEvents>, connections: ConnectionRegistry) {
    this.maxBuffered = maxBuffered;
    this.#stats = stats;
    this.#events = events;
    this.#connections = connections;
  }

  /** Sends `frame` to `to` (the connection itself when `undefined`); {@link NO_REPLY} sends nothing. */
  reply(conn: Connection, to: ReplyOrNone, frame: ServerFrame): void {
    if (to === NO_REPLY || conn.closed) return;
    if (conn.socket.bufferedBytes > this.maxBuffered) {
      this.#connections.slowConsumer(conn, 'outbound buffer over maxBufferedBytes');
      return;
    }
    if (to !== undefined) to(frame);
    else conn.socket.sendFrame(frame);
  }

  /**
   * Reports a failed command (to the connection itself under {@link NO_REPLY}), and closes the connection when the
   * error carries a close code. Anything but a {@link UnisocketError} is an internal error, also emitted as `error`.
   */
  fail(conn: Connection, error: unknown, to: ReplyOrNone): void {
    const err = isUnisocketError(error)
      ? error
      : new UnisocketError(ErrorCode.INTERNAL, 'internal error', { cause: error });
    if (!isUnisocketError(error)) this.emitError(error);
    this.#stats.errors[err.code] = (this.#stats.errors[err.code] ?? 0) + 1;
    this.#events.emit('commandError', conn, err);
    this.reply(conn, to ?? undefined, err.toFrame());
    if (err.closeCode !== undefined) this.#connections.disconnect(conn, err.closeCode, err.message.slice(0, 120));
  }

  /** Emits an unexpected failure the Hub survived as `error`, when someone listens. */
  emitError(error: unknown): void {
    const err = error instanceof Error ? error : new Error(String(error));
    if (this.#events.listenerCount('error') > 0) this.#events.emit('error', err);
  }
}

/** Sets a frame's `ref` when the command had one. */
export function withRef<T extends AckFrame>(frame: T, ref: Ref | undefined): T {
  if (ref !== undefined) frame.ref = ref;
  return frame;
}

/** `{ ref }` for error options, or nothing. */
export function refOpt(ref: Ref | undefined): { ref?: Ref } {
  return ref === undefined ? {} : { ref };
}

export function badRequest(message: string, ref?: Ref, channel?: ChannelName): UnisocketError {
  return new UnisocketError(ErrorCode.BAD_REQUEST, message, {
    ...refOpt(ref),
    ...(channel === undefined ? {} : { channel }),
  });
}

export function forbidden(channel: ChannelName, kind: ChannelKind, ref: Ref | undefined): UnisocketError {
  const why =
    kind === 'public'
      ? `subscribing to "${channel}" is not allowed`
      : `"${channel}" is a ${kind} channel: it needs authorization (configure auth.authorizeChannel, or send a subscription token)`;
  return new UnisocketError(ErrorCode.FORBIDDEN, why, { ...refOpt(ref), channel });
}

/** Gives an error the command's ref and channel; non-unisocket errors become `fallback` with `fallbackMessage`. */
export function withErrorContext(
  error: unknown,
  ref: Ref | undefined,
  channel: ChannelName | undefined,
  fallback: ErrorCode,
  fallbackMessage?: string,
): UnisocketError {
  const options = { ...refOpt(ref), ...(channel === undefined ? {} : { channel }) };
  if (isUnisocketError(error)) {
    if (error.ref === ref && error.channel === channel) return error;
    return new UnisocketError(error.code, error.message, {
      ...options,
      cause: error.cause,
      ...(error.closeCode === undefined ? {} : { closeCode: error.closeCode }),
    });
  }
  const message = fallbackMessage ?? (error instanceof Error ? error.message : String(error));
  return new UnisocketError(fallback, message, { ...options, cause: error });
}
