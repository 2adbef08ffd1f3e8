import { type CloseCode, ErrorCode } from './constants';
import type { ChannelName, ErrorFrame, Ref } from './types';

/** Options of {@link UnisocketError}. */
export interface UnisocketErrorOptions {
  /** The underlying error. */
  cause?: unknown;
  /** When set, the connection is closed with this code after the error is reported. */
  closeCode?: CloseCode;
  /** The `ref` of the command that failed. */
  ref?: Ref;
  /** The channel the failed command was about. */
  channel?: ChannelName;
  /** The HTTP status when the error answers an HTTP request (an upgrade refusal, the HTTP API). */
  httpStatus?: number;
}

/**
 * The one error class of unisocket. `code` is one of {@link ErrorCode}; protocol errors that end the
 * connection also carry their WebSocket `closeCode`.
 */
export class UnisocketError extends Error {
  override readonly name = 'UnisocketError';
  readonly code: ErrorCode;
  readonly closeCode: CloseCode | undefined;
  readonly ref: Ref | undefined;
  readonly channel: ChannelName | undefined;
  readonly httpStatus: number | undefined;

  constructor(code: ErrorCode, message: string, options: UnisocketErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.closeCode = options.closeCode;
    this.ref = options.ref;
    this.channel = options.channel;
    this.httpStatus = options.httpStatus;
  }

  /** The `error` frame reporting this error to a client. */
  toFrame(): ErrorFrame {
    const frame: ErrorFrame = { type: 'error', code: this.code, message: this.message };
    if (this.ref !== undefined) frame.ref = this.ref;
    if (this.channel !== undefined) frame.channel = this.channel;
    return frame;
  }

  /** Builds an error from an `error` frame (client side). */
  static fromFrame(frame: ErrorFrame): UnisocketError {
    const options: UnisocketErrorOptions = {};
    if (frame.ref !== undefined) options.ref = frame.ref;
    if (frame.channel !== undefined) options.channel = frame.channel;
    return new UnisocketError(frame.code, frame.message, options);
  }
}

/** `true` for a {@link UnisocketError}, also across package copies (checks the shape, not the prototype). */
export function isUnisocketError(value: unknown): value is UnisocketError {
  return (
    value instanceof UnisocketError ||
    (value instanceof Error &&
      value.name === 'UnisocketError' &&
      typeof (value as unknown as { code?: unknown }).code === 'string' &&
      (value as unknown as { code: string }).code in ErrorCode)
  );
}
