import { type UnisocketClient, type UnisocketClientOptions, createClient, isClient } from '@unisocket/client';
import {
  type App,
  type InjectionKey,
  getCurrentInstance,
  getCurrentScope,
  hasInjectionContext,
  inject,
  onMounted,
  onScopeDispose,
  provide,
} from 'vue';

/** The injection key of the client. */
export const UNISOCKET_KEY: InjectionKey<UnisocketClient> = Symbol('unisocket');

const inBrowser = (): boolean => typeof window !== 'undefined';

/** The plugin {@link createUnisocket} returns. */
export interface UnisocketPlugin {
  readonly client: UnisocketClient;
  install(app: App): void;
}

/**
 * A plugin providing a client to every component: `app.use(createUnisocket({ url: '/ws' }))`. Given options, it
 * creates the client, connects it when installed in a browser (never during SSR) and disconnects it when the app
 * unmounts (Vue ≥ 3.5); given a client, it only provides it.
 */
export function createUnisocket(clientOrOptions: UnisocketClient | UnisocketClientOptions): UnisocketPlugin {
  const owned = !isClient(clientOrOptions);
  const client = owned
    ? createClient({ ...(clientOrOptions as UnisocketClientOptions), autoConnect: false })
    : (clientOrOptions as UnisocketClient);
  return {
    client,
    install(app) {
      app.provide(UNISOCKET_KEY, client);
      if (!owned) return;
      if (inBrowser()) client.connect().catch(() => undefined);
      (app as App & { onUnmount?: (fn: () => void) => void }).onUnmount?.(() => client.disconnect());
    },
  };
}

/** Another name for {@link createUnisocket}. */
export const UnisocketPlugin = createUnisocket;

/**
 * Provides a client to the component's descendants (call it in `setup`). Given options, the client is created here,
 * connected on mount and disconnected when the component's scope ends.
 */
export function provideUnisocket(clientOrOptions: UnisocketClient | UnisocketClientOptions): UnisocketClient {
  const client = isClient(clientOrOptions) ? clientOrOptions : ownClient(clientOrOptions);
  provide(UNISOCKET_KEY, client);
  return client;
}

/**
 * A client created here: connected on mount (or at once outside a component), disconnected with the scope.
 * @internal
 */
export function ownClient(options: UnisocketClientOptions): UnisocketClient {
  const client = createClient({ ...options, autoConnect: false });
  const connect = (): void => void client.connect().catch(() => undefined);
  if (getCurrentInstance() !== null) onMounted(connect);
  else if (inBrowser()) connect();
  if (getCurrentScope() !== undefined) onScopeDispose(() => client.disconnect());
  return client;
}

/**
 * The provided client.
 * @throws {Error} when none is provided
 */
export function useUnisocketClient(): UnisocketClient {
  const client = hasInjectionContext() ? inject(UNISOCKET_KEY, null) : null;
  if (client === null) {
    throw new Error(
      'no unisocket client here: app.use(createUnisocket({ url: "/ws" })), provideUnisocket(…) in a parent, or pass a client',
    );
  }
  return client;
}

/** The client passed to a composable, or else the provided one. @internal */
export function resolveClient(explicit: UnisocketClient | undefined): UnisocketClient {
  return explicit ?? useUnisocketClient();
}
