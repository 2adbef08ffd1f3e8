import { type ClientCommand, CloseCode, type ServerFrame } from '@unisocket/core/protocol';
import { Multiplexer, type VirtualSink } from './multiplexer';
import type {
  BroadcastChannelConstructor,
  BroadcastChannelLike,
  LockManagerLike,
  SharedConnectionOptions,
  SharingState,
} from './sharing';
import type { OutgoingCommand, Transport, TransportFactory, TransportHandlers, TransportLimits } from './transport';

/**
 * One connection shared by the tabs of an origin.
 *
 * Every tab that connects asks for the Web Lock `unisocket:<key>`; the tab that holds it is the leader: it runs a
 * {@link Multiplexer} on the one real WebSocket. The other tabs (followers) reach it over a `BroadcastChannel`:
 * each client's transport is a virtual connection through the leader, so every client keeps its own subscriptions,
 * positions, recovery, publish queue and store — only the socket is shared. When the leader tab closes, the lock
 * passes to a waiting tab, which announces itself; the followers' virtual connections end with 1001 (the clients
 * reconnect at once, through the new leader) and every channel is resubscribed from its position (`since`), so what
 * was published meanwhile is replayed from the server's history.
 */

/** Messages between the tabs of a group. `to` addresses one tab; the others ignore it. */
type TabMessage =
  | { t: 'who'; from: string }
  | { t: 'leader'; from: string }
  | { t: 'bye'; from: string }
  | { t: 'open'; from: string; to: string; conn: string; url: string; limits: TransportLimits }
  | { t: 'cmd'; from: string; to: string; conn: string; commands: ClientCommand[] }
  | { t: 'close'; from: string; to: string; conn: string }
  | { t: 'deliver'; from: string; items: [conn: string, frames: ServerFrame[]][] }
  | { t: 'closed'; from: string; to: string; conn: string; code: number; reason: string };

const DEFAULT_REPLAY_BUFFER_SIZE = 256;
const IDLE_CLOSE_MS = 1_000;

function randomId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (typeof c?.randomUUID === 'function') return c.randomUUID().slice(0, 13);
  return Math.random().toString(36).slice(2, 15);
}

/** A client's virtual connection, through the leader (another tab, or this one). */
class SharedLink implements Transport {
  readonly name = 'shared';
  /** The tab it is attached to; `null` while no leader is known. */
  leader: string | null = null;
  closed = false;

  constructor(
    readonly id: string,
    readonly url: string,
    readonly limits: TransportLimits,
    readonly handlers: TransportHandlers,
    readonly coordinator: TabCoordinator,
  ) {}

  send(commands: readonly OutgoingCommand[]): void {
    if (this.closed || commands.length === 0) return;
    this.coordinator.send(
      this,
      commands.map((c) => c.command),
    );
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.coordinator.detach(this, true);
  }

  /** Frames from the leader. */
  frames(frames: readonly ServerFrame[]): void {
    for (const frame of frames) {
      if (this.closed) return;
      this.handlers.onFrame(frame);
    }
  }

  /** The virtual connection ended on the leader's side. */
  end(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.coordinator.detach(this, false);
    this.handlers.onClose(code, reason);
  }
}

/** The tab's member of a group: election, relaying, and the multiplexer while it leads. */
class TabCoordinator {
  readonly tabId = randomId();
  readonly #channel: BroadcastChannelLike;
  readonly #links = new Map<string, SharedLink>();
  readonly #states = new Set<SharingState>();
  readonly #factory: TransportFactory;
  readonly #replayBufferSize: number;
  readonly #abort = new AbortController();
  readonly #locks: LockManagerLike;
  #leaderId: string | null = null;
  #mux: Multiplexer | undefined;
  #resign: (() => void) | undefined;
  #releaseTabLock: (() => void) | undefined;
  /** `true` once this tab holds its own tab lock: only then may it open links on a leader (who watches that lock). */
  #registered = false;
  /** While leading: the links each follower tab has open here, and the tabs whose lock is watched. */
  readonly #followers = new Map<string, Set<string>>();
  #nextLink = 1;
  #outgoing: [conn: string, frames: ServerFrame[]][] = [];
  #postScheduled = false;
  #left = false;

  constructor(
    readonly key: string,
    factory: TransportFactory,
    options: SharedConnectionOptions,
    BroadcastChannel: BroadcastChannelConstructor,
    locks: LockManagerLike,
    readonly onLeave: () => void,
  ) {
    this.#factory = factory;
    this.#replayBufferSize = options.replayBufferSize ?? DEFAULT_REPLAY_BUFFER_SIZE;
    this.#locks = locks;
    this.#channel = new BroadcastChannel(`unisocket:${key}`);
    this.#channel.onmessage = (event) => this.#onMessage(event.data as TabMessage);
    // the tab lock lives as long as this tab is in the group: a leader waiting for it learns when a follower tab
    // is gone (closed or crashed) and drops its links
    locks
      .request(this.#tabLock(this.tabId), { signal: this.#abort.signal }, () => {
        if (this.#left) return Promise.resolve();
        this.#registered = true;
        this.#post({ t: 'who', from: this.tabId });
        for (const link of [...this.#links.values()]) if (link.leader === null) this.#attach(link);
        locks
          .request(`unisocket:${key}`, { signal: this.#abort.signal }, () => {
            if (this.#left) return Promise.resolve();
            this.#lead();
            return new Promise<void>((resolve) => (this.#resign = resolve));
          })
          .catch(() => undefined);
        return new Promise<void>((resolve) => (this.#releaseTabLock = resolve));
      })
      .catch(() => undefined);
    const pagehide = (): void => this.leave();
    const target = globalThis as { addEventListener?: (type: string, listener: () => void) => void };
    target.addEventListener?.('pagehide', pagehide);
    options.signal?.addEventListener('abort', () => this.leave(), { once: true });
  }

  /** Registers a client's sharing state (several clients of a tab may share a group). */
  track(state: SharingState): void {
    this.#states.add(state);
    this.#publishRole();
  }

  open(url: string, handlers: TransportHandlers, limits: TransportLimits): SharedLink {
    const link = new SharedLink(`${this.tabId}.${this.#nextLink++}`, url, limits, handlers, this);
    this.#links.set(link.id, link);
    if (this.#left) queueMicrotask(() => link.end(1006, 'this tab left the shared connection'));
    else this.#attach(link);
    return link;
  }

  send(link: SharedLink, commands: ClientCommand[]): void {
    if (link.leader === null) return;
    if (link.leader === this.tabId) this.#mux?.command(link.id, commands);
    else this.#post({ t: 'cmd', from: this.tabId, to: link.leader, conn: link.id, commands });
  }

  /** A link ended; `tell` when the client closed it (the leader must hear of it). */
  detach(link: SharedLink, tell: boolean): void {
    this.#links.delete(link.id);
    if (!tell || link.leader === null) return;
    if (link.leader === this.tabId) this.#mux?.close(link.id);
    else this.#post({ t: 'close', from: this.tabId, to: link.leader, conn: link.id });
  }

  /** Leaves the group: hands the connection over (when leading) and ends this tab's links. Idempotent. */
  leave(): void {
    if (this.#left) return;
    this.#left = true;
    this.onLeave();
    if (this.#mux !== undefined) {
      this.#post({ t: 'bye', from: this.tabId });
      this.#mux.shutdown(CloseCode.GOING_AWAY, 'the tab holding the shared connection closed');
      this.#flushOutgoing();
      this.#mux = undefined;
    }
    for (const link of [...this.#links.values()]) {
      if (link.leader !== null && link.leader !== this.tabId) {
        this.#post({ t: 'close', from: this.tabId, to: link.leader, conn: link.id });
      }
      link.end(1006, 'this tab left the shared connection');
    }
    this.#resign?.();
    this.#releaseTabLock?.();
    this.#abort.abort();
    this.#channel.onmessage = null;
    this.#channel.close();
  }

  #tabLock(tabId: string): string {
    return `unisocket:${this.key}:tab:${tabId}`;
  }

  #attach(link: SharedLink): void {
    if (!this.#registered) {
      link.leader = null;
      return;
    }
    if (this.#mux !== undefined) {
      link.leader = this.tabId;
      this.#mux.open(link.id, link.url, link.limits, this.#localSink(link));
    } else if (this.#leaderId !== null) {
      link.leader = this.#leaderId;
      this.#post({
        t: 'open',
        from: this.tabId,
        to: this.#leaderId,
        conn: link.id,
        url: link.url,
        limits: link.limits,
      });
    } else {
      link.leader = null;
      this.#post({ t: 'who', from: this.tabId });
    }
  }

  /** The lock is ours: hold the connection for the group. */
  #lead(): void {
    this.#mux = new Multiplexer({
      factory: this.#factory,
      replayBufferSize: this.#replayBufferSize,
      idleCloseMs: IDLE_CLOSE_MS,
    });
    this.#leaderId = this.tabId;
    this.#post({ t: 'leader', from: this.tabId });
    this.#publishRole();
    for (const link of [...this.#links.values()]) {
      if (link.leader === null) this.#attach(link);
      // attached to the previous leader: end it; the client reconnects at once, here
      else if (link.leader !== this.tabId)
        link.end(CloseCode.GOING_AWAY, 'the tab holding the shared connection changed');
    }
  }

  #onMessage(msg: TabMessage): void {
    if (this.#left || typeof msg !== 'object' || msg === null || msg.from === this.tabId) return;
    if ('to' in msg && msg.to !== this.tabId) return;
    switch (msg.t) {
      case 'who':
        if (this.#mux !== undefined) this.#post({ t: 'leader', from: this.tabId });
        return;
      case 'leader': {
        if (this.#mux !== undefined) return; // the lock makes this impossible; keep what we hold
        this.#leaderId = msg.from;
        this.#publishRole();
        for (const link of [...this.#links.values()]) {
          if (link.leader === null) this.#attach(link);
          else if (link.leader !== msg.from)
            link.end(CloseCode.GOING_AWAY, 'the tab holding the shared connection changed');
        }
        return;
      }
      case 'bye':
        if (this.#leaderId !== msg.from) return;
        this.#leaderId = null;
        this.#publishRole();
        for (const link of [...this.#links.values()]) {
          if (link.leader === msg.from) link.end(CloseCode.GOING_AWAY, 'the tab holding the shared connection closed');
        }
        return;
      case 'open':
        if (this.#mux === undefined) {
          this.#post({
            t: 'closed',
            from: this.tabId,
            to: msg.from,
            conn: msg.conn,
            code: CloseCode.GOING_AWAY,
            reason: 'not the leader',
          });
          return;
        }
        this.#follow(msg.from).add(msg.conn);
        this.#mux.open(msg.conn, msg.url, msg.limits, this.#remoteSink(msg.conn, msg.from));
        return;
      case 'cmd':
        this.#mux?.command(msg.conn, msg.commands);
        return;
      case 'close':
        this.#followers.get(msg.from)?.delete(msg.conn);
        this.#mux?.close(msg.conn);
        return;
      case 'deliver':
        for (const [conn, frames] of msg.items) {
          const link = this.#links.get(conn);
          if (link !== undefined && link.leader === msg.from) link.frames(frames);
        }
        return;
      case 'closed': {
        const link = this.#links.get(msg.conn);
        if (link !== undefined && link.leader === msg.from) link.end(msg.code, msg.reason);
        return;
      }
    }
  }

  /** The links of a follower tab; the first time, watches its tab lock to drop them when the tab is gone. */
  #follow(tab: string): Set<string> {
    let conns = this.#followers.get(tab);
    if (conns !== undefined) return conns;
    conns = new Set();
    this.#followers.set(tab, conns);
    const mux = this.#mux;
    this.#locks
      .request(this.#tabLock(tab), { signal: this.#abort.signal }, () => {
        const gone = this.#followers.get(tab);
        this.#followers.delete(tab);
        if (gone !== undefined && mux === this.#mux) for (const conn of gone) mux?.close(conn);
        return Promise.resolve();
      })
      .catch(() => undefined);
    return conns;
  }

  #localSink(link: SharedLink): VirtualSink {
    return {
      frames: (frames) => link.frames(frames),
      close: (code, reason) => link.end(code, reason),
    };
  }

  #remoteSink(conn: string, tab: string): VirtualSink {
    return {
      frames: (frames) => {
        this.#outgoing.push([conn, frames]);
        if (this.#postScheduled) return;
        this.#postScheduled = true;
        queueMicrotask(() => this.#flushOutgoing());
      },
      close: (code, reason) => {
        this.#followers.get(tab)?.delete(conn);
        this.#flushOutgoing();
        this.#post({ t: 'closed', from: this.tabId, to: tab, conn, code, reason });
      },
    };
  }

  /** One message per turn carries every follower's frames (a frame several links get is cloned once). */
  #flushOutgoing(): void {
    this.#postScheduled = false;
    if (this.#outgoing.length === 0) return;
    const items = this.#outgoing;
    this.#outgoing = [];
    this.#post({ t: 'deliver', from: this.tabId, items });
  }

  #post(msg: TabMessage): void {
    // a follower's frames go out before anything posted after them
    if (msg.t !== 'deliver' && this.#outgoing.length > 0) this.#flushOutgoing();
    try {
      this.#channel.postMessage(msg);
    } catch {
      // closed channel (the tab is leaving)
    }
  }

  #publishRole(): void {
    const role = this.#mux !== undefined ? 'leader' : this.#leaderId !== null ? 'follower' : 'pending';
    for (const state of this.#states) state.set(role, this.tabId, this.#leaderId);
  }
}

const groups = new WeakMap<object, Map<string, TabCoordinator>>();

/**
 * Opens a client's connection through the tab's group (joining it on the first call), or — where the browser lacks
 * `BroadcastChannel` or Web Locks — on the client's own transport.
 * @internal
 */
export function openSharedTransport(
  base: TransportFactory,
  options: SharedConnectionOptions,
  state: SharingState,
  url: string,
  handlers: TransportHandlers,
  limits: TransportLimits,
): Transport | Promise<Transport> {
  const BroadcastChannel =
    options.BroadcastChannel ?? (globalThis as { BroadcastChannel?: BroadcastChannelConstructor }).BroadcastChannel;
  const locks = options.locks ?? (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;
  if (
    typeof BroadcastChannel !== 'function' ||
    locks === undefined ||
    typeof locks.request !== 'function' ||
    options.signal?.aborted === true
  ) {
    state.set('unsupported', null, null);
    return base(url, handlers, limits);
  }
  const key = options.key ?? url;
  let byKey = groups.get(locks);
  if (byKey === undefined) groups.set(locks, (byKey = new Map()));
  let coordinator = byKey.get(key);
  if (coordinator === undefined) {
    const created: TabCoordinator = new TabCoordinator(key, base, options, BroadcastChannel, locks, () => {
      if (byKey.get(key) === created) byKey.delete(key);
    });
    byKey.set(key, (coordinator = created));
  }
  coordinator.track(state);
  return coordinator.open(url, handlers, limits);
}
