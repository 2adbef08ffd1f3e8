import type { ChannelName } from '@unisocket/core/protocol';
import { Emitter } from './emitter';
import { deriveStore } from './store';
import { unsubscribedSnapshot } from './subscription';
import type { ChannelSnapshot, ClientSnapshot, ConnectionSnapshot, ExternalStore } from './types';

/** What the client snapshot is built from. */
export interface SnapshotSource {
  /** The connection fields, as they are now (a fresh object: the store freezes it). */
  connection(): ConnectionSnapshot;
  /** The snapshots of the channels the client holds. */
  channels(): Iterable<ChannelSnapshot>;
}

/**
 * The client's store: it builds the immutable {@link ClientSnapshot} lazily (a new object only when something in it
 * changed; the channel record keeps its identity while no channel changed) and tells its listeners once per burst of
 * changes, a microtask later, and only when the snapshot really changed.
 * @internal
 */
export class ClientStore {
  /** The store contract for `client.store` (its methods work unbound). */
  readonly store: ExternalStore<ClientSnapshot>;
  /** The connection part alone: its listeners hear only of changes to those fields. */
  readonly connectionStore: ExternalStore<ConnectionSnapshot>;

  readonly #source: SnapshotSource;
  readonly #listeners = new Emitter<{ change: [] }>();
  #version = 0;
  /** The snapshot listeners were last told about. */
  #notified: ClientSnapshot | undefined;
  #notifyScheduled = false;
  #snapshot: ClientSnapshot | undefined;
  #snapshotVersion = -1;
  #channelsRecord: Readonly<Record<ChannelName, ChannelSnapshot>> | undefined;
  #channelsDirty = true;

  constructor(source: SnapshotSource) {
    this.#source = source;
    this.store = {
      subscribe: (listener) => {
        // nobody was listening: a new listener starts from the current snapshot, not from the last one announced
        if (!this.#listeners.has('change') && !this.#notifyScheduled) this.#notified = this.getSnapshot();
        return this.#listeners.on('change', listener);
      },
      getSnapshot: () => this.getSnapshot(),
    };
    this.connectionStore = deriveStore(
      this.store,
      ({ channels: _, ...connection }): ConnectionSnapshot => Object.freeze(connection),
      sameConnection,
    );
  }

  /**
   * A store of one channel's snapshot: its listener is called only when that channel's snapshot changed. A channel
   * the client does not hold has a stable `unsubscribed` snapshot.
   */
  channelStore(channel: ChannelName): ExternalStore<ChannelSnapshot> {
    const owner = {};
    return deriveStore(this.store, (snapshot) => snapshot.channels[channel] ?? unsubscribedSnapshot(channel, owner));
  }

  /** Something in the snapshot may have changed. */
  changed(): void {
    this.#version++;
    if (this.#notifyScheduled || !this.#listeners.has('change')) return;
    this.#notifyScheduled = true;
    queueMicrotask(() => {
      this.#notifyScheduled = false;
      // listeners hear of real changes only: a burst that ended where it started is not one
      const next = this.getSnapshot();
      if (next === this.#notified) return;
      this.#notified = next;
      this.#listeners.emit('change');
    });
  }

  /** A channel was taken, left, or its snapshot changed. */
  channelsChanged(): void {
    this.#channelsDirty = true;
    this.changed();
  }

  /** The current snapshot: the same object until something in it changed. */
  getSnapshot(): ClientSnapshot {
    if (this.#snapshot !== undefined && this.#snapshotVersion === this.#version) return this.#snapshot;
    let channels = this.#channelsRecord;
    if (channels === undefined || this.#channelsDirty) {
      const record = Object.create(null) as Record<ChannelName, ChannelSnapshot>;
      for (const snapshot of this.#source.channels()) record[snapshot.channel] = snapshot;
      if (channels === undefined || !sameChannels(channels, record))
        channels = this.#channelsRecord = Object.freeze(record);
      this.#channelsDirty = false;
    }
    const previous = this.#snapshot;
    const next: ClientSnapshot = { ...this.#source.connection(), channels };
    this.#snapshotVersion = this.#version;
    if (previous !== undefined && sameConnection(previous, next) && previous.channels === next.channels)
      return previous;
    this.#snapshot = Object.freeze(next);
    return this.#snapshot;
  }
}

function sameConnection(a: ConnectionSnapshot, b: ConnectionSnapshot): boolean {
  return (
    a.status === b.status &&
    a.connectionId === b.connectionId &&
    a.userId === b.userId &&
    a.attempt === b.attempt &&
    a.lastError === b.lastError &&
    a.pendingPublishes === b.pendingPublishes
  );
}

function sameChannels(
  a: Readonly<Record<string, ChannelSnapshot>>,
  b: Readonly<Record<string, ChannelSnapshot>>,
): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const key of keys) if (a[key] !== b[key]) return false;
  return true;
}
