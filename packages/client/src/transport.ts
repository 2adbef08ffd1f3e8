import type { ClientCommand, ServerFrame } from '@unisocket/core/protocol';

/**
 * A command on its way out, with its JSON text computed once by the client (which needs it anyway to check the
 * size and that `data` is JSON). A text transport writes `json`; an object transport (Socket.IO) uses `command`.
 */
export interface OutgoingCommand {
  readonly command: ClientCommand;
  readonly json: string;
  /** The UTF-8 size of `json`. */
  readonly bytes: number;
}

/** What a transport reports to the client. After {@link Transport.close} it reports nothing more. */
export interface TransportHandlers {
  /** The connection is open (the server's `welcome` follows as a frame). */
  onOpen(): void;
  /** One server frame (a batched WebSocket frame arrives as several calls, in order). */
  onFrame(frame: ServerFrame): void;
  /** The connection ended: its close code (1006 when it failed without one) and reason. Called once. */
  onClose(code: number, reason: string): void;
  /** A problem the transport survived or that precedes `onClose` (unparsable frame, socket error). */
  onError(error: Error): void;
}

/**
 * One connection attempt as the client sees it: send commands, close. The client owns everything else (welcome,
 * auth, acks, recovery, reconnect), so a transport only moves protocol objects.
 */
export interface Transport {
  /** The transport's name, for diagnostics (`native`, `socketio`). */
  readonly name: string;
  /** Sends commands in order; the transport may batch them into as few frames as its limits allow. */
  send(commands: readonly OutgoingCommand[]): void;
  /**
   * Ends the connection without waiting for the peer (a dead connection may never answer a close handshake).
   * No handler is called afterwards.
   */
  close(code: number, reason: string): void;
}

/** Limits a transport applies when batching commands into frames. */
export interface TransportLimits {
  /** The largest frame to send, in UTF-8 bytes. */
  maxPayloadBytes: number;
  /** The most commands in one frame. */
  maxCommandsPerFrame: number;
}

/**
 * Opens one connection to `url`. Called for every connection attempt. A failure to connect is reported through
 * `handlers.onClose` (or by throwing/rejecting, which the client treats the same way).
 *
 * This is the seam for other transports: a Socket.IO transport maps each command to an emitted event with an
 * acknowledgement and reports the acknowledgement as an `ack`/`error` frame carrying the command's `ref`.
 */
export type TransportFactory = (
  url: string,
  handlers: TransportHandlers,
  limits: TransportLimits,
) => Transport | Promise<Transport>;
