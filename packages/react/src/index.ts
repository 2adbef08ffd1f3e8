/**
 * @unisocket/react — React bindings for @unisocket/client. Glue only: the hooks read the client's stores with
 * `useSyncExternalStore` and subscribe in effects with cleanup; recovery, dedup, reconnect, presence and the publish
 * queue live in the client.
 * @packageDocumentation
 */
import type { UnisocketClientOptions } from '@unisocket/client';
import { type ReactNode, createElement } from 'react';
import { UnisocketProvider, type UnisocketProviderProps } from './provider';

export { UnisocketContext, UnisocketProvider, useUnisocketClient, type UnisocketProviderProps } from './provider';
export {
  useBroadcast,
  useBroadcastContext,
  useBroadcastSocket,
  useChannel,
  useConnectionState,
  usePresence,
  usePrivateChannel,
  usePublish,
  useSubscription,
  type BroadcastState,
  type ChannelHandlers,
  type ChannelState,
  type PresenceState,
  type PrivateChannelState,
  type PublishFunction,
  type UseChannelOptions,
  type UsePresenceOptions,
} from './hooks';
export type {
  ChannelMessage,
  ChannelSnapshot,
  ConnectionSnapshot,
  ConnectionStatus,
  PresenceMember,
  UnisocketClient,
  UnisocketClientOptions,
} from '@unisocket/client';

/** Another name for {@link UnisocketProvider} (same props: `client`, `options` or `url`). */
export const BroadcastProvider: (props: UnisocketProviderProps) => ReactNode = UnisocketProvider;

/** Props of {@link BroadcastSocketProvider}. */
export interface BroadcastSocketProviderProps {
  /** The server's WebSocket URL (or a path, in a browser). */
  url: string;
  /** Further client options. */
  options?: Omit<UnisocketClientOptions, 'url'>;
  /** @default true */
  connect?: boolean;
  children?: ReactNode;
}

/** A provider with the URL as its own prop: `<BroadcastSocketProvider url="ws://…">` = `<UnisocketProvider options={{ ...options, url }}>`. */
export function BroadcastSocketProvider({ url, options, connect, children }: BroadcastSocketProviderProps): ReactNode {
  return createElement(
    UnisocketProvider,
    { options: { ...options, url }, ...(connect === undefined ? {} : { connect }) },
    children,
  );
}
