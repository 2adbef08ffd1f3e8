import {
  type ConnectionSnapshot,
  type ExternalStore,
  type PublishFunction,
  type UnisocketClient,
  type UnisocketClientOptions,
  type UnisocketError,
  watchStore,
  withConnectionFlags,
} from '@unisocket/client';
import { type ComputedRef, type ShallowRef, computed, getCurrentScope, onScopeDispose, shallowRef } from 'vue';
import { ownClient, resolveClient, useUnisocketClient } from './plugin';

/** A shallowRef that follows a store until the current scope ends. */
function useStoreRef<T>(store: ExternalStore<T>): Readonly<ShallowRef<T>> {
  const state = shallowRef(store.getSnapshot());
  const off = watchStore(store, (value) => {
    state.value = value;
  });
  if (getCurrentScope() !== undefined) onScopeDispose(off);
  return state;
}

/**
 * The connection state as a shallowRef of the `ConnectionSnapshot` (`status`, `connectionId`, `userId`, `attempt`,
 * `lastError`, `pendingPublishes`); it changes with the connection only, not with every message.
 */
export function useConnectionState(client?: UnisocketClient): Readonly<ShallowRef<ConnectionSnapshot>> {
  return useStoreRef(resolveClient(client).connectionStore);
}

/** What {@link useBroadcast} returns. */
export interface BroadcastState {
  readonly client: UnisocketClient;
  /** The whole connection state. */
  readonly state: Readonly<ShallowRef<ConnectionSnapshot>>;
  readonly status: ComputedRef<ConnectionSnapshot['status']>;
  readonly isConnected: ComputedRef<boolean>;
  readonly connectionId: ComputedRef<string | null>;
  readonly userId: ComputedRef<string | null>;
  readonly lastError: ComputedRef<UnisocketError | null>;
}

/**
 * The main connection: with options, a client created here (connected on mount, disconnected when the scope ends);
 * without, the provided one. `const { client, isConnected } = useBroadcast({ url: '/ws' })`.
 */
export function useBroadcast(options?: UnisocketClientOptions): BroadcastState {
  const client = options === undefined ? useUnisocketClient() : ownClient(options);
  const state = useStoreRef(client.connectionStore);
  return {
    client,
    state,
    status: computed(() => state.value.status),
    isConnected: computed(() => withConnectionFlags(state.value).isConnected),
    connectionId: computed(() => state.value.connectionId),
    userId: computed(() => state.value.userId),
    lastError: computed(() => state.value.lastError),
  };
}

/** `publish(channel, event, data?, { id? })`: acknowledged, queued while offline (bounded), idempotent. */
export function usePublish(client?: UnisocketClient): PublishFunction {
  const c = resolveClient(client);
  return (channel, event, data, options) => c.publish(channel, event, data, options);
}
