import {
  CloseCode,
  type CloseFrame,
  type Connection,
  type DecodeLimits,
  type Hub,
  type PreparedBatch,
  type ServerFrame,
  type TransportSocket,
} from '@unisocket/core';
import type { Socket } from 'socket.io';
import { socketIoBatch } from './packets';

/** The engine.io socket under a Socket.IO socket. */
export type EngineSocket = Socket['conn'];

/** What the shared inbound handlers need: one per transport, referenced by each of its sockets. */
export interface InboundContext {
  hub: Hub;
  decodeLimits: DecodeLimits;
  sockets: Set<SocketIoSocket>;
}

/** The parts of engine.io and ws internals the fan-out reads (both are pinned by socket.io 4.8). */
interface EngineInternals {
  readyState: string;
  writeBuffer: unknown[];
  transport: {
    name: string;
    writable: boolean;
    perMessageDeflate?: unknown;
    /** websocket transport: the `ws` WebSocket */
    socket?: WsInternals;
  };
  write(data: unknown, options?: object): void;
  close(discard?: boolean): void;
}

interface WsInternals {
  readyState: number;
  bufferedAmount: number;
  terminate(): void;
  _sender?: { _state?: number; _queue?: unknown[]; sendFrame?(list: Buffer[], cb?: (error?: Error) => void): void };
}

/** Engine.io write options of packets that engine.io encodes itself (shared: engine.io only sets `compress`). */
const PLAIN_WRITE = {};

/**
 * Close codes after which a client should come back by itself: the connection's engine.io transport is closed, so
 * the official `socket.io-client` sees `transport close` and reconnects with its backoff. Every other code ends the
 * Socket.IO session with a DISCONNECT packet (`io server disconnect`): the client stays down until the application
 * reconnects, as it should after 4001, 4029, 1008 or 1009.
 */
export const RECONNECT_CLOSE_CODES: ReadonlySet<number> = new Set<number>([
  CloseCode.GOING_AWAY,
  CloseCode.INTERNAL,
  CloseCode.SLOW_CONSUMER,
  CloseCode.OVERLOADED,
]);

/**
 * One Socket.IO socket as the Hub sees it.
 *
 * Batches: the batch's Socket.IO encoding is built once ({@link socketIoBatch}) and each WebSocket subscriber gets
 * the same buffer of pre-encoded WebSocket frames in one write — straight to ws's sender when engine.io holds nothing
 * for the socket (exactly the call engine.io makes for a `wsPreEncodedFrame`), or through engine.io's write buffer,
 * still pre-encoded, when it does (so order is kept). Long-polling subscribers get the engine.io packets.
 * @internal
 */
export class SocketIoSocket implements TransportSocket {
  /** Set by the transport right after the Hub accepted the connection. */
  conn: Connection | undefined = undefined;
  /** Bytes this transport put into engine.io's write buffer since engine.io last flushed it. */
  queued = 0;
  /** The last inbound text packet, as engine.io received it (its size is checked before the command runs). */
  inboundText = '';
  /** Whether the last inbound packet announced binary attachments. */
  inboundBinary = false;
  /** The close code this side chose, once closing. */
  closeCode: number | undefined = undefined;
  closeReason = '';

  constructor(
    readonly socket: Socket,
    readonly context: InboundContext,
    private readonly forceCloseMs: number,
  ) {}

  get #engine(): EngineInternals {
    return this.socket.conn as unknown as EngineInternals;
  }

  get bufferedBytes(): number {
    const transport = this.#engine.transport;
    const ws = transport.name === 'websocket' ? transport.socket : undefined;
    return this.queued + (ws === undefined ? 0 : ws.bufferedAmount);
  }

  sendFrame(frame: ServerFrame): void {
    if (this.closeCode !== undefined || this.#engine.readyState !== 'open') return;
    this.socket.emit(frame.type, frame);
  }

  sendBatch(batch: PreparedBatch): void {
    const engine = this.#engine;
    if (engine.readyState !== 'open') return;
    const encoded = socketIoBatch(batch);
    const transport = engine.transport;
    const ws = transport.name === 'websocket' ? transport.socket : undefined;
    const sender = ws?._sender;
    if (sender?.sendFrame !== undefined && !transport.perMessageDeflate) {
      const frames = encoded.frames;
      if (
        transport.writable &&
        engine.writeBuffer.length === 0 &&
        ws!.readyState === 1 &&
        (sender._state === undefined || sender._state === 0) &&
        (sender._queue === undefined || sender._queue.length === 0)
      ) {
        // nothing is queued ahead: the socket gets the prepared frames now, in one write
        sender.sendFrame(frames);
        return;
      }
      // engine.io holds packets for this socket: queue behind them, still pre-encoded
      this.queued += encoded.bytes;
      engine.write(undefined, encoded.engineOptions);
      return;
    }
    // long-polling (or a transport that encodes itself): one engine.io packet per message
    this.queued += encoded.packetChars;
    const packets = encoded.packets;
    for (let i = 0; i < packets.length; i++) engine.write(packets[i], PLAIN_WRITE);
  }

  /**
   * Ends the connection: a `close` event `{ type: "close", code, reason }` first (the WebSocket close code the native
   * transport would send), then the disconnect the code calls for (see {@link RECONNECT_CLOSE_CODES}). A peer that
   * does not read is dropped after `forceCloseMs`.
   */
  close(code: number, reason: string): void {
    if (this.closeCode !== undefined) return;
    this.closeCode = code;
    this.closeReason = reason;
    const engine = this.#engine;
    if (engine.readyState !== 'open' || !this.socket.connected) return;
    const transport = engine.transport;
    const ws = transport.name === 'websocket' ? transport.socket : undefined;
    const frame: CloseFrame = { type: 'close', code, reason };
    this.socket.emit('close', frame);
    if (RECONNECT_CLOSE_CODES.has(code)) engine.close();
    else this.socket.disconnect(true);
    // engine.io forgets the socket at once but ws waits up to 30 s for the peer's close frame, holding what is
    // buffered for it: a peer that does not read is dropped after forceCloseMs
    if (ws !== undefined && ws.readyState !== WS_CLOSED) setTimeout(terminateWs, this.forceCloseMs, ws).unref();
  }

  /** Drops the connection at once, without waiting for queued data (dead or non-reading peer). */
  terminate(): void {
    const engine = this.#engine;
    if (engine.readyState === 'closed') return;
    const transport = engine.transport;
    if (transport.name === 'websocket' && transport.socket !== undefined) transport.socket.terminate();
    else engine.close(true);
  }
}

const WS_CLOSED = 3;

function terminateWs(ws: WsInternals): void {
  if (ws.readyState !== WS_CLOSED) ws.terminate();
}
