import type { IncomingMessage } from 'node:http';
import type { Connection, Identity, TransportKind } from './connection';
import type { MaybePromise } from './util';

/** What an admission check decided for a connection request. */
export interface Admission {
  /** The identity established from the request (a token in the handshake, a header, the query or a cookie). */
  identity?: Identity;
  /** The client's address, when the check resolved it (e.g. from a trusted proxy header). */
  ip?: string;
  /**
   * Called exactly once when the admitted request is over: with the connection once it is open, or with `undefined`
   * when it was abandoned (the client went away, the handshake was invalid, the server closed). Admission checks that
   * reserve capacity for in-flight connection requests release it here. Every transport calls it.
   */
  onSettled?: (conn: Connection | undefined) => void;
}

/** What a transport knows about a connection request beyond the HTTP request itself. */
export interface AdmissionContext {
  /** The transport asking. */
  transport: TransportKind;
  /**
   * A token the transport's own handshake carried (Socket.IO: `io(url, { auth: { token } })`). Checks try it before
   * the `Authorization` header, the query and cookies.
   */
  token?: string;
  /** The client's address as the transport saw it (defaults to the request's socket address). */
  ip?: string;
}

/**
 * Decides whether a connection request may become a connection, before the connection exists: one function for every
 * transport, so limits, authentication and refusals are the same on all of them. Throw (or reject with) a
 * `UnisocketError` carrying `httpStatus` to refuse: the native transport answers the upgrade with that HTTP status,
 * the Socket.IO transport with a `connect_error` carrying the code.
 *
 * `request` is the HTTP request that opened the connection: the WebSocket upgrade, or Socket.IO's first handshake
 * request.
 */
export type AdmissionCheck = (request: IncomingMessage, context: AdmissionContext) => MaybePromise<Admission | void>;
