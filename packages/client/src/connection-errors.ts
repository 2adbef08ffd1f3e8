import { CloseCode, ErrorCode, UnisocketError } from '@unisocket/core/protocol';

/** The error of a `getToken()` that threw or rejected. */
export function tokenError(error: unknown): UnisocketError {
  const message = error instanceof Error ? error.message : String(error);
  return new UnisocketError(ErrorCode.UNAUTHORIZED, `getToken() failed: ${message}`, { cause: error });
}

const CLOSE_ERRORS: Record<number, [ErrorCode, string]> = {
  [CloseCode.GOING_AWAY]: [ErrorCode.UNAVAILABLE, 'the server is shutting down (1001); reconnecting'],
  [CloseCode.POLICY]: [
    ErrorCode.FORBIDDEN,
    'the server refused this client by policy (1008, e.g. its origin); not reconnecting',
  ],
  [CloseCode.TOO_LARGE]: [
    ErrorCode.PAYLOAD_TOO_LARGE,
    'the server closed the connection: a frame was too large (1009)',
  ],
  [CloseCode.INTERNAL]: [ErrorCode.INTERNAL, 'the server closed the connection after an internal error (1011)'],
  [CloseCode.UNAUTHORIZED]: [
    ErrorCode.UNAUTHORIZED,
    'the server closed the connection: unauthorized or token expired (4001); pass getToken to retry with a fresh token',
  ],
  [CloseCode.SLOW_CONSUMER]: [
    ErrorCode.UNAVAILABLE,
    'the server dropped this client as a slow consumer (4008); reconnecting and recovering',
  ],
  [CloseCode.RATE_LIMITED]: [
    ErrorCode.RATE_LIMITED,
    'the server closed the connection: rate limit exceeded repeatedly (4029); slow down',
  ],
  [CloseCode.OVERLOADED]: [ErrorCode.UNAVAILABLE, 'the server is overloaded (4503); reconnecting with backoff'],
};

/**
 * The error describing why a connection ended: what the close code means for the client (and whether it reconnects),
 * with the server's reason and the transport's error as the cause.
 */
export function closeError(code: number, reason: string, cause: unknown): UnisocketError {
  const known = CLOSE_ERRORS[code];
  const [errorCode, text] = known ?? [ErrorCode.UNAVAILABLE, `the connection was lost (${code})`];
  const message = reason !== '' ? `${text}: ${reason}` : text;
  return new UnisocketError(errorCode, message, {
    closeCode: code as CloseCode,
    ...(cause === undefined ? {} : { cause }),
  });
}
