import { nativeTransport } from './native-transport';
import type { ResolvedClientOptions } from './options';
import { SharingState } from './sharing';
import { socketioTransport } from './socketio-transport';
import type { TransportFactory } from './transport';

/** The transport factory a client's options ask for, and its sharing state when it shares its connection. */
export interface ClientTransport {
  readonly factory: TransportFactory;
  /** With `shareConnection`: the tab's part in the shared connection; `null` without it. */
  readonly sharing: SharingState | null;
}

/**
 * The factory for `transport` (`'native'`, `'socketio'` or the given factory); with `shareConnection`, wrapped so
 * that the first attempt loads the shared-connection module (a separate chunk: clients without `shareConnection`
 * never load it) and joins the tab's group.
 * @internal
 */
export function clientTransport(options: Readonly<ResolvedClientOptions>): ClientTransport {
  const { transport } = options;
  const base =
    transport === 'native'
      ? nativeTransport(options.WebSocket === undefined ? {} : { WebSocket: options.WebSocket })
      : transport === 'socketio'
        ? socketioTransport(options.io === undefined ? {} : { io: options.io })
        : transport;
  const share = options.shareConnection;
  if (share === false) return { factory: base, sharing: null };
  const sharing = new SharingState();
  return {
    sharing,
    factory: (url, handlers, limits) =>
      import('./shared-connection').then((m) => m.openSharedTransport(base, share, sharing, url, handlers, limits)),
  };
}
