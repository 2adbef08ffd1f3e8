import {
  type ConnectionFlags,
  type ConnectionSnapshot,
  type PublishFunction,
  type UnisocketClient,
  type UnisocketClientOptions,
  deriveStore,
  isClient,
  withConnectionFlags,
} from '@unisocket/client';
import type { Readable } from 'svelte/store';
import { ownedClient, readableOf } from './client-readable';

/** The value of {@link createBroadcastStore}: the connection state and `isConnected`. */
export interface BroadcastStoreValue extends ConnectionSnapshot, ConnectionFlags {}

/** The store {@link createBroadcastStore} returns. */
export interface BroadcastStore extends Readable<BroadcastStoreValue> {
  readonly client: UnisocketClient;
  /** Connects now (a created client also connects with its stores' first subscriber). */
  connect(): Promise<void>;
  /** Disconnects now. */
  disconnect(): void;
  /** `client.publish`: acknowledged, queued while offline (bounded), idempotent. */
  publish: PublishFunction;
}

/**
 * The main connection: `const broadcast = createBroadcastStore({ url: '/ws' })`, then `$broadcast.isConnected`,
 * `$broadcast.status`, `broadcast.client`. Given options, the client is created here: it connects when a store built
 * on it (this one, or a channel store of `broadcast.client`) gets its first subscriber in a browser, and disconnects
 * when the last one leaves. Given a client, the store only reads it.
 */
export function createBroadcastStore(clientOrOptions: UnisocketClient | UnisocketClientOptions): BroadcastStore {
  const client = isClient(clientOrOptions) ? clientOrOptions : ownedClient(clientOrOptions);
  return {
    subscribe: readableOf<BroadcastStoreValue>(client, deriveStore(client.connectionStore, withConnectionFlags)),
    client,
    connect: () => client.connect(),
    disconnect: () => client.disconnect(),
    publish: (channel, event, data, options) => client.publish(channel, event, data, options),
  };
}

/** A store of the connection state alone (`status`, `connectionId`, `userId`, `attempt`, `lastError`, `pendingPublishes`). */
export function createConnectionStore(source: UnisocketClient | BroadcastStore): Readable<ConnectionSnapshot> {
  const client = isClient(source) ? source : source.client;
  return { subscribe: readableOf(client, client.connectionStore) };
}
