import WebSocket from 'ws';
import { type UnisocketClient, type UnisocketClientOptions, createClient } from '../src/index';

import { FAST_RECONNECT } from '@unisocket/testkit';

export {
  FAST_RECONNECT,
  type HubServer,
  type TestServer,
  startHubServer,
  startServer,
  until as waitFor,
} from '@unisocket/testkit';

/** A `ws` WebSocket that remembers its instances, so tests can kill the client's socket like a network failure. */
export class TrackedWebSocket extends WebSocket {
  static readonly instances: TrackedWebSocket[] = [];
  constructor(url: string) {
    super(url);
    TrackedWebSocket.instances.push(this);
  }

  /** The most recent socket that is open. */
  static latestOpen(): TrackedWebSocket | undefined {
    for (let i = TrackedWebSocket.instances.length - 1; i >= 0; i--) {
      const ws = TrackedWebSocket.instances[i]!;
      if (ws.readyState === WebSocket.OPEN) return ws;
    }
    return undefined;
  }
}

const clients: UnisocketClient[] = [];

/** A client with fast reconnects and `ws` injected; disconnected by {@link cleanupClients}. */
export function testClient(url: string, options: Partial<UnisocketClientOptions> = {}): UnisocketClient {
  const client = createClient({ url, WebSocket: TrackedWebSocket, reconnect: FAST_RECONNECT, ...options });
  clients.push(client);
  return client;
}

export function cleanupClients(): void {
  for (const c of clients.splice(0)) c.disconnect();
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
