import type { ServerFrame } from '../protocol/types';

/**
 * Where the answer to a command goes: a callback (the Socket.IO acknowledgement), or `undefined` for the
 * connection's own socket.
 */
export type Reply = ((frame: ServerFrame) => void) | undefined;

/**
 * "Don't reply": for a subscription no client asked for (the automatic one to a user's personal channel), whose ack
 * is not sent. Should it fail, the error still goes to the connection.
 */
export const NO_REPLY = null;

/** A {@link Reply}, or {@link NO_REPLY}. */
export type ReplyOrNone = Reply | typeof NO_REPLY;
