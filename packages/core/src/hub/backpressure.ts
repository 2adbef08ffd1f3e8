import { Backlog } from '../backlog';
import type { ChannelPolicy } from '../backpressure';
import type { ChannelState, Connection } from '../connection';
import { PreparedBatch } from '../prepared-batch';
import { CloseCode } from '../protocol/constants';
import type { ChannelName } from '../protocol/types';
import type { HubStats } from './events';
import type { ConnectionRegistry } from './registry';

/**
 * Slow consumers on `drop-oldest` / `coalesce-latest` channels: a connection whose socket is past the low-water mark
 * gets a backlog (and the Hub a drain check timer) while it is backed up; what waits is dropped or coalesced to stay
 * within `maxBufferedBytes`, and written out when the socket drains. Also the memory-pressure controls: shedding
 * `drop-oldest` channels and closing the heaviest connections. (`disconnect` channels never come here: the plain
 * delivery path closes their slow consumers.) Backlogs live on the connection ({@link BacklogState}).
 */
export class Backpressure {
  /** While `true`, `drop-oldest` channels are not delivered at all (counted in `stats.drops.shed`). */
  shedding = false;
  #maxBuffered: number;
  #lowWater: number;
  /** Connections with a backlog; the drain check timer runs while it is not empty. */
  readonly #backlogged = new Set<Connection>();
  #drainTimer: NodeJS.Timeout | undefined = undefined;
  readonly #drainCheckMs: number;
  readonly #maxMessages: number;
  readonly #stats: HubStats;
  readonly #connections: ConnectionRegistry;

  constructor(
    maxBuffered: number,
    lowWater: number,
    drainCheckMs: number,
    maxMessages: number,
    stats: HubStats,
    connections: ConnectionRegistry,
  ) {
    this.#maxBuffered = maxBuffered;
    this.#lowWater = lowWater;
    this.#drainCheckMs = drainCheckMs;
    this.#maxMessages = maxMessages;
    this.#stats = stats;
    this.#connections = connections;
  }

  /** New bounds (memory pressure changed `maxBufferedBytes`); they apply from the next delivery. */
  setBounds(maxBuffered: number, lowWater: number): void {
    this.#maxBuffered = maxBuffered;
    this.#lowWater = lowWater;
  }

  /**
   * Delivery on `drop-oldest` / `coalesce-latest` channels: written at once while the socket is at or below the
   * low-water mark and nothing waits for it; otherwise held in the connection's backlog.
   */
  deliver(ch: ChannelState, policy: ChannelPolicy, prepared: PreparedBatch): void {
    if (this.shedding && policy.kind === 'drop-oldest') {
      this.#stats.drops.shed += prepared.count * ch.live.size;
      return;
    }
    const low = this.#lowWater;
    for (const conn of ch.live) {
      if (conn.closed) continue;
      const batch = prepared.except === undefined ? prepared : prepared.forConnection(conn);
      if (batch.count === 0) continue;
      const socket = conn.socket;
      if (conn.backlog === undefined && socket.bufferedBytes <= low) {
        socket.sendBatch(batch);
        conn.delivered += batch.count;
        conn.bytesOut += batch.byteLength;
        continue;
      }
      this.#hold(conn, policy, batch);
    }
  }

  /** Puts a batch in a backed-up connection's backlog and keeps the backlog within `maxBufferedBytes`. */
  #hold(conn: Connection, policy: ChannelPolicy, batch: PreparedBatch): void {
    let backlog = conn.backlog;
    if (backlog === undefined) backlog = this.#open(conn);
    const drops = this.#stats.drops;
    if (policy.kind === 'drop-oldest') backlog.push(batch);
    else drops['coalesce-latest'] += backlog.coalesce(batch, policy);
    const socket = conn.socket;
    const room = this.#maxBuffered - socket.bufferedBytes;
    while (backlog.bytes > room && backlog.queue.length > 0) {
      // the newest frame is kept whatever its size: it is what drop-oldest exists to deliver
      if (backlog.queue.length === 1 && backlog.latestBytes === 0) break;
      drops['drop-oldest'] += backlog.dropOldest();
    }
    if (backlog.latestBytes > 0 && backlog.bytes > room) {
      this.#connections.slowConsumer(conn, 'the latest states of its coalesce-latest channels exceed maxBufferedBytes');
      this.drop(conn);
      return;
    }
    if (socket.bufferedBytes <= this.#lowWater) this.#drain(conn);
  }

  #open(conn: Connection): Backlog {
    const backlog = new Backlog();
    conn.backlog = backlog;
    this.#stats.backlogs++;
    this.#backlogged.add(conn);
    if (!conn.drainHooked) {
      conn.drainHooked = true;
      conn.socket.onDrain?.(() => this.#drain(conn));
    }
    if (this.#drainTimer === undefined) {
      this.#drainTimer = setInterval(this.#drainAll, this.#drainCheckMs);
      this.#drainTimer.unref();
    }
    return backlog;
  }

  /** Writes what a backed-up connection holds while its socket stays at or below the low-water mark. */
  #drain(conn: Connection): void {
    const backlog = conn.backlog;
    if (backlog === undefined) return;
    if (conn.closed) {
      this.drop(conn);
      return;
    }
    const socket = conn.socket;
    const low = this.#lowWater;
    while (socket.bufferedBytes <= low) {
      let batch = backlog.shift();
      if (batch === undefined) {
        const latest = backlog.takeLatest(this.#maxMessages);
        if (latest === undefined) break;
        batch = new PreparedBatch(latest.channel, latest.lines);
      }
      socket.sendBatch(batch);
      conn.delivered += batch.count;
      conn.bytesOut += batch.byteLength;
      if (conn.closed) break;
    }
    if (backlog.empty) this.drop(conn);
  }

  readonly #drainAll = (): void => {
    for (const conn of this.#backlogged) this.#drain(conn);
  };

  /** Forgets what a connection holds of one channel (unsubscribed, or its stream restarted). */
  purge(conn: Connection, channel: ChannelName): void {
    const backlog = conn.backlog;
    if (backlog === undefined) return;
    backlog.purge(channel);
    if (backlog.empty) this.drop(conn);
  }

  /** Forgets a connection's backlog (closed, or drained); the drain timer stops with the last one. */
  drop(conn: Connection): void {
    if (conn.backlog === undefined) return;
    conn.backlog = undefined;
    this.#backlogged.delete(conn);
    if (this.#backlogged.size === 0 && this.#drainTimer !== undefined) {
      clearInterval(this.#drainTimer);
      this.#drainTimer = undefined;
    }
  }

  /** Connections backed up now, and the bytes their backlogs hold. */
  backlogStats(): { connections: number; bytes: number } {
    let bytes = 0;
    for (const conn of this.#backlogged) bytes += conn.backlog?.bytes ?? 0;
    return { connections: this.#backlogged.size, bytes };
  }

  /**
   * Closes the connections holding the most unread bytes, heaviest first, with 4503, until the bytes held for the
   * remaining ones are at most `maxTotalBytes`. Connections already closing are not counted.
   * @returns the number of connections closed
   */
  disconnectHeaviest(maxTotalBytes: number, reason: string): number {
    const held: { conn: Connection; bytes: number }[] = [];
    let total = 0;
    for (const conn of this.#connections.all) {
      if (conn.closed) continue;
      const bytes = conn.bufferedBytes;
      if (bytes === 0) continue;
      held.push({ conn, bytes });
      total += bytes;
    }
    if (total <= maxTotalBytes) return 0;
    held.sort((a, b) => b.bytes - a.bytes);
    let closed = 0;
    for (const { conn, bytes } of held) {
      if (total <= maxTotalBytes) break;
      this.#stats.overloadDisconnects++;
      this.#connections.disconnect(conn, CloseCode.OVERLOADED, reason);
      this.drop(conn);
      total -= bytes;
      closed++;
    }
    return closed;
  }

  /** Stops the drain check timer (the Hub is closing). */
  close(): void {
    if (this.#drainTimer !== undefined) clearInterval(this.#drainTimer);
    this.#drainTimer = undefined;
  }
}
