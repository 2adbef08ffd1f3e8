import { Emitter, type Unsubscribe } from './emitter';
import type { ExternalStore } from './types';

/** A `BroadcastChannel` (the browser's, Node's, or a test double). */
export interface BroadcastChannelLike {
  postMessage(message: unknown): void;
  close(): void;
  onmessage: ((event: { data: unknown }) => void) | null;
}

/** A `BroadcastChannel` constructor. */
export type BroadcastChannelConstructor = new (name: string) => BroadcastChannelLike;

/** The part of the Web Locks API (`navigator.locks`) the shared connection uses. */
export interface LockManagerLike {
  request(
    name: string,
    options: { signal?: AbortSignal },
    callback: (lock: unknown) => Promise<unknown>,
  ): Promise<unknown>;
}

/** Options of `shareConnection`. */
export interface SharedConnectionOptions {
  /**
   * Tabs (and clients in one tab) with the same key share one connection.
   * @default the client's resolved URL
   */
  key?: string;
  /**
   * Messages per channel the tab holding the connection keeps, so a tab that resubscribes after a hand-over is
   * brought up to date without a server replay (the server's history is asked when they do not cover it).
   * @default 256
   */
  replayBufferSize?: number;
  /**
   * Aborting it takes this tab out of the group: if it holds the connection, another tab takes over. For apps that
   * tear down a client for good without closing the page (micro-frontends, tests).
   */
  signal?: AbortSignal;
  /**
   * The BroadcastChannel implementation.
   * @default globalThis.BroadcastChannel
   */
  BroadcastChannel?: BroadcastChannelConstructor;
  /**
   * The Web Locks implementation.
   * @default globalThis.navigator.locks
   */
  locks?: LockManagerLike;
}

/**
 * The tab's part in a shared connection:
 * - `pending`: no connection attempt yet (the election starts with the first one);
 * - `leader`: this tab holds the WebSocket and relays for the others;
 * - `follower`: another tab (`leaderId`) holds it; this tab's commands and messages go through it;
 * - `unsupported`: the browser lacks `BroadcastChannel` or Web Locks: this tab has its own connection.
 */
export type ConnectionSharingRole = 'pending' | 'leader' | 'follower' | 'unsupported';

/** An immutable view of the tab's part in a shared connection. */
export interface ConnectionSharingSnapshot {
  readonly role: ConnectionSharingRole;
  /** This tab's id in the group (`null` before the first connection attempt). */
  readonly tabId: string | null;
  /** The id of the tab holding the connection, once known. */
  readonly leaderId: string | null;
}

const PENDING: ConnectionSharingSnapshot = Object.freeze({ role: 'pending', tabId: null, leaderId: null });

/**
 * The sharing state one client exposes as `client.connectionSharing`; the tab's coordinator (loaded on the first
 * connection attempt) feeds it.
 * @internal
 */
export class SharingState {
  #snapshot: ConnectionSharingSnapshot = PENDING;
  readonly #emitter = new Emitter<{ change: [] }>();
  readonly store: ExternalStore<ConnectionSharingSnapshot> = {
    subscribe: (listener: () => void): Unsubscribe => this.#emitter.on('change', listener),
    getSnapshot: () => this.#snapshot,
  };

  set(role: ConnectionSharingRole, tabId: string | null, leaderId: string | null): void {
    const s = this.#snapshot;
    if (s.role === role && s.tabId === tabId && s.leaderId === leaderId) return;
    this.#snapshot = Object.freeze({ role, tabId, leaderId });
    this.#emitter.emit('change');
  }
}
