import WebSocket from 'ws';
import type { BroadcastChannelConstructor, BroadcastChannelLike, LockManagerLike } from '../src/index';

interface Waiter {
  tab: FakeTab;
  grant: () => void;
}

/**
 * Web Locks for several simulated tabs of one origin, in one process: exclusive locks by name, granted in request
 * order, released when the callback's promise settles — or when the tab holding them dies.
 */
export class LockTable {
  readonly #held = new Map<string, FakeTab>();
  readonly #queues = new Map<string, Waiter[]>();

  request(
    tab: FakeTab,
    name: string,
    options: { signal?: AbortSignal },
    callback: (lock: unknown) => Promise<unknown>,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (options.signal?.aborted === true) {
        reject(new DOMException('aborted', 'AbortError'));
        return;
      }
      const waiter: Waiter = {
        tab,
        grant: () => {
          this.#held.set(name, tab);
          tab.heldLocks.add(name);
          let result: Promise<unknown>;
          try {
            result = Promise.resolve(callback({ name }));
          } catch (error) {
            result = Promise.reject(error);
          }
          result.then(resolve, reject).finally(() => {
            // a dead tab's locks were released already
            if (this.#held.get(name) === tab && tab.alive) this.#release(name, tab);
          });
        },
      };
      options.signal?.addEventListener('abort', () => {
        const queue = this.#queues.get(name);
        const i = queue?.indexOf(waiter) ?? -1;
        if (i !== -1) {
          queue!.splice(i, 1);
          reject(new DOMException('aborted', 'AbortError'));
        }
      });
      if (!this.#held.has(name)) waiter.grant();
      else {
        let queue = this.#queues.get(name);
        if (queue === undefined) this.#queues.set(name, (queue = []));
        queue.push(waiter);
      }
    });
  }

  /** The tab died: its locks pass on, its waiting requests vanish. */
  kill(tab: FakeTab): void {
    for (const queue of this.#queues.values()) {
      for (let i = queue.length - 1; i >= 0; i--) if (queue[i]!.tab === tab) queue.splice(i, 1);
    }
    for (const name of [...tab.heldLocks]) this.#release(name, tab);
  }

  holder(name: string): FakeTab | undefined {
    return this.#held.get(name);
  }

  #release(name: string, tab: FakeTab): void {
    tab.heldLocks.delete(name);
    if (this.#held.get(name) !== tab) return;
    this.#held.delete(name);
    const next = this.#queues.get(name)?.shift();
    if (next !== undefined) queueMicrotask(() => next.grant());
  }
}

/**
 * One simulated browser tab: its own Web Locks view, its own BroadcastChannels (Node's, which reach the other
 * tabs' channels of the same name), its own WebSockets. `kill()` is the tab closing or crashing: its sockets drop,
 * its channels go silent, its locks pass on — and none of its code runs any more.
 */
export class FakeTab {
  readonly heldLocks = new Set<string>();
  readonly channels: BroadcastChannelLike[] = [];
  readonly sockets: WebSocket[] = [];
  alive = true;
  readonly locks: LockManagerLike;
  readonly BroadcastChannel: BroadcastChannelConstructor;
  readonly WebSocket: typeof WebSocket;

  constructor(
    readonly name: string,
    readonly table: LockTable,
  ) {
    const tab = this;
    this.locks = { request: (lockName, options, callback) => table.request(tab, lockName, options, callback) };
    this.BroadcastChannel = class extends globalThis.BroadcastChannel {
      constructor(channelName: string) {
        super(channelName);
        tab.channels.push(this as unknown as BroadcastChannelLike);
      }
    } as unknown as BroadcastChannelConstructor;
    this.WebSocket = class extends WebSocket {
      constructor(url: string) {
        super(url);
        tab.sockets.push(this);
      }
    } as typeof WebSocket;
  }

  kill(): void {
    this.alive = false;
    for (const channel of this.channels) {
      channel.onmessage = null;
      channel.close();
    }
    for (const socket of this.sockets) socket.terminate();
    this.table.kill(this);
  }
}
