import {
  type Connection,
  ErrorCode,
  type Hub,
  type PreparedBatch,
  type ServerFrame,
  type TransportSocket,
  UnisocketError,
} from '@unisocket/core';
import * as wsModule from 'ws';
import { WebSocket } from 'ws';

/** The parts of ws's internal Sender used to write a frame prepared once for many sockets. */
interface SenderInternals {
  _state: number;
  _queue: unknown[];
  sendFrame(list: Buffer[], cb?: (error?: Error) => void): void;
}

const FRAME_OPTIONS = { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false } as const;

/** ws's `Sender.frame`: frames data once; the result can be written to any number of sockets. */
const frameData = (
  wsModule as unknown as {
    Sender: { frame(data: Buffer, options: typeof FRAME_OPTIONS): Buffer[] };
  }
).Sender.frame;

const PING_FRAME = '{"type":"ping"}';

/** What a socket needs from its transport. @internal */
export interface SocketOwner {
  readonly hub: Hub;
  readonly forceCloseMs: number;
}

/**
 * One client socket: the `ws` WebSocket itself (the transport's `WebSocketServer` creates this class), also the
 * Hub's `TransportSocket`. Being one object — with listeners shared by every socket instead of closures — keeps an
 * idle connection close to what a bare `ws` connection costs.
 *
 * Batches are framed once (`WebSocket.Sender.frame`) and the same buffers are written to every subscriber's socket,
 * as Socket.IO's engine does for its pre-encoded broadcasts.
 * @internal
 */
export class NativeSocket extends WebSocket implements TransportSocket {
  /** Set by any inbound frame or pong; cleared at each heartbeat. */
  alive = true;
  /** The Hub's connection, once registered. */
  conn: Connection | undefined = undefined;
  owner: SocketOwner | undefined = undefined;
  forceTimer: NodeJS.Timeout | undefined = undefined;

  /** Starts serving: the Hub's connection is `conn`; events go to `owner`'s Hub. */
  serve(owner: SocketOwner, conn: Connection): void {
    this.owner = owner;
    this.conn = conn;
  }

  /**
   * ws reports everything through `emit`: the socket handles its own events here instead of registering listeners,
   * which keeps an idle connection's event table empty. Other events, and listeners an application adds, still work.
   */
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    const conn = this.conn;
    if (conn !== undefined) {
      switch (event) {
        case 'message':
          this.alive = true;
          if (args[1] === true) this.owner!.hub.rejectFrame(conn, BINARY_REFUSED);
          else this.owner!.hub.handleText(conn, (args[0] as Buffer).toString());
          return true;
        case 'pong':
          this.alive = true;
          return true;
        case 'error':
          // protocol errors (bad frames, invalid UTF-8, over maxPayload): ws closes the socket with the right code
          if (this.listenerCount('error') === 0) return true;
          break;
        case 'close':
          if (this.forceTimer !== undefined) clearTimeout(this.forceTimer);
          this.owner!.hub.removeConnection(conn, args[0] as number, String(args[1] ?? ''));
          break;
      }
    }
    return super.emit(event, ...args);
  }

  get bufferedBytes(): number {
    return this.bufferedAmount;
  }

  /** Node's `drain` of the underlying TCP socket: what was buffered has been handed to the kernel. */
  onDrain(listener: () => void): void {
    (this as unknown as { _socket: NodeJS.EventEmitter | null })._socket?.on('drain', listener);
  }

  sendFrame(frame: ServerFrame): void {
    if (this.readyState === WebSocket.OPEN) this.send(JSON.stringify(frame));
  }

  sendBatch(batch: PreparedBatch): void {
    if (this.readyState !== WebSocket.OPEN) return;
    let frame = batch.encoded.native as Buffer[] | undefined;
    if (frame === undefined) {
      const data = Buffer.from(batch.text);
      batch.byteLength = data.length;
      const parts = frameData(data, FRAME_OPTIONS);
      // header and payload in one buffer, copied once per batch: each subscriber then costs one plain write
      // instead of a corked two-buffer writev
      frame = parts.length === 1 ? parts : [Buffer.concat(parts)];
      batch.encoded.native = frame;
    }
    const sender = (this as unknown as { _sender: SenderInternals })._sender;
    // the sender queues only while compressing or reading a Blob; unisocket does neither, but stay correct if it did
    if (sender._state === 0 && sender._queue.length === 0) sender.sendFrame(frame);
    else this.send(batch.text);
  }

  /** Sends the heartbeat: a WebSocket ping frame and the protocol-level `ping`. */
  heartbeat(): void {
    if (this.readyState !== WebSocket.OPEN) return;
    this.ping();
    this.send(PING_FRAME);
  }

  /** Closes with a code and reason; a peer that never answers the close is dropped after `forceCloseMs`. */
  override close(code?: number, reason?: string | Buffer): void {
    if (this.readyState === WebSocket.CLOSED) return;
    if (this.readyState === WebSocket.OPEN || this.readyState === WebSocket.CONNECTING) {
      super.close(code, typeof reason === 'string' ? truncateReason(reason) : reason);
    }
    // a peer that does not read may never answer the close: free its buffers after a short wait
    if (this.forceTimer === undefined && this.owner !== undefined) {
      this.forceTimer = setTimeout(terminate, this.owner.forceCloseMs, this);
      this.forceTimer.unref();
    }
  }
}

function terminate(socket: NativeSocket): void {
  socket.terminate();
}

/** One shared error for binary frames: a flood of them allocates nothing per frame. */
const BINARY_REFUSED = new UnisocketError(
  ErrorCode.BAD_REQUEST,
  'binary frames are not supported: send UTF-8 JSON text frames',
);

/** A close reason must fit in 123 bytes of UTF-8. */
export function truncateReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let out = reason.slice(0, 120);
  while (Buffer.byteLength(out) > 120) out = out.slice(0, -1);
  return `${out}...`;
}
