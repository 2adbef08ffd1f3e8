import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Admission, AdmissionCheck, AdmissionContext } from './admission';
import type { Connection } from './connection';
import { ErrorCode } from './protocol/constants';
import { UnisocketError, isUnisocketError } from './protocol/errors';
import type { MaybePromise } from './util';

/**
 * The HTTP upgrade plumbing every WebSocket transport shares: admission (sync or async), the exactly-once
 * `onSettled`, and refusals that answer with a status and close the socket in bounded time.
 */

/** How long a refused socket may take to flush its answer before it is destroyed, in ms. */
const REFUSAL_FLUSH_MS = 1_000;

/** Ignores socket errors while an upgrade is being decided (Node removes its own listener before `upgrade`). */
export function ignoreSocketError(): void {}

/**
 * Answers an upgrade request with an HTTP error (a JSON body `{ error, message }`) and closes the socket once the
 * answer is flushed, or after a second even if the peer never reads it, so a refused client holds no descriptor.
 */
export function refuseUpgrade(
  socket: Duplex,
  status: number,
  body: { error: string; message: string },
  headers: readonly string[] = [],
): void {
  if (socket.destroyed) return;
  const text = JSON.stringify(body);
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'Connection: close',
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(text)}`,
    ...headers,
  ];
  socket.once('finish', () => socket.destroy());
  setTimeout(() => socket.destroy(), REFUSAL_FLUSH_MS).unref();
  socket.end(`${head.join('\r\n')}\r\n\r\n${text}`);
}

/** Refuses an upgrade with what `error` says (`httpStatus`, default 403; a non-unisocket error is a 500). */
export function refuseUpgradeWith(socket: Duplex, error: unknown): number {
  const err = isUnisocketError(error)
    ? error
    : new UnisocketError(ErrorCode.INTERNAL, 'connection refused', { cause: error, httpStatus: 500 });
  const status = err.httpStatus ?? 403;
  refuseUpgrade(
    socket,
    status,
    { error: err.code, message: err.message },
    status === 503 || status === 429 ? ['Retry-After: 5'] : [],
  );
  return status;
}

/** The error a transport that stopped accepting answers upgrades with (503). */
export function shuttingDown(): UnisocketError {
  return new UnisocketError(ErrorCode.UNAVAILABLE, 'the server is shutting down', { httpStatus: 503 });
}

/** What {@link admitUpgrade} needs of a transport. */
export interface UpgradeAdmission<S> {
  /** The admission check, if any (everyone is admitted without one). */
  admit: AdmissionCheck | undefined;
  context: AdmissionContext;
  /** `true` once the transport stopped accepting: an admitted upgrade is then refused with 503. */
  closed(): boolean;
  /** Completes the WebSocket handshake (`wss.handleUpgrade`). */
  handshake(request: IncomingMessage, socket: Duplex, head: Buffer, done: (ws: S) => void): void;
  /** Opens the connection on the WebSocket; `undefined` when the Hub refused it (the socket is closed then). */
  open(ws: S, request: IncomingMessage, admission: Admission | undefined): Connection | undefined;
  /** Counts a refusal by HTTP status. */
  refused?(status: number): void;
}

/**
 * Runs admission for an upgrade the transport takes, then the handshake, and settles the admission exactly once:
 * with the connection, or `undefined` when the client went away, the handshake failed or the transport closed.
 * The socket must already ignore errors ({@link ignoreSocketError}); the listener goes once the handshake is done.
 */
export function admitUpgrade<S>(
  request: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  transport: UpgradeAdmission<S>,
): void {
  const refuse = (error: unknown): void => {
    const status = refuseUpgradeWith(socket, error);
    transport.refused?.(status);
  };
  if (transport.admit === undefined) {
    accept(request, socket, head, transport, undefined);
    return;
  }
  let decision: MaybePromise<Admission | void>;
  try {
    decision = transport.admit(request, transport.context);
  } catch (error) {
    refuse(error);
    return;
  }
  if (decision instanceof Promise) {
    // the client may go away while admission runs: accept sees the destroyed socket and settles
    decision.then((admission) => accept(request, socket, head, transport, admission ?? undefined), refuse);
  } else {
    accept(request, socket, head, transport, decision ?? undefined);
  }
}

function accept<S>(
  request: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  transport: UpgradeAdmission<S>,
  admission: Admission | undefined,
): void {
  const onSettled = admission?.onSettled;
  let settled = false;
  const settle = (conn: Connection | undefined): void => {
    if (settled) return;
    settled = true;
    onSettled?.(conn);
  };
  if (socket.destroyed) {
    settle(undefined);
    return;
  }
  if (transport.closed()) {
    settle(undefined);
    refuseUpgradeWith(socket, shuttingDown());
    return;
  }
  // ws answers an invalid handshake itself and never calls back: the socket's close settles it then. The listener
  // goes once the handshake is done, or it would hold the request and its headers for the connection's lifetime.
  const abandoned = onSettled === undefined ? undefined : (): void => settle(undefined);
  if (abandoned !== undefined) socket.on('close', abandoned);
  transport.handshake(request, socket, head, (ws) => {
    socket.off('error', ignoreSocketError);
    if (abandoned !== undefined) socket.off('close', abandoned);
    settle(transport.open(ws, request, admission));
  });
}
