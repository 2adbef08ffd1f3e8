import type { SocketIoConnect, StreamPosition } from '@unisocket/client';
import type { UnisocketClientOptions } from '@unisocket/react';

/** What `GET /demo/config` says (src/demo.ts). */
export interface DemoConfig {
  /** JWT auth is on (JWT_SECRET set). */
  auth: boolean;
  /** The server signs demo tokens at /demo/token (auth on, not production). */
  tokens: boolean;
  presenceChannel: string;
  /** The demo's Pusher app (`PUSHER_APP_KEY`): Laravel Echo connects to `/app/{key}` (`?transport=pusher`). */
  pusher?: { key: string };
  /** Which optional parts run on the server; the page disables the controls of the others. */
  features?: { kafka: boolean };
}

export const CHAT_CHANNEL = 'chat.lobby';
export const TICKER_CHANNEL = 'ticker';
/** The Kafka bridge's channels (src/kafka.ts): topic records arrive on the first; notes published on the second go to the topic. */
export const KAFKA_EVENTS_CHANNEL = 'kafka.events';
export const KAFKA_OUT_CHANNEL = 'kafka.out';
const NAME_KEY = 'unisocket-demo-name';

export async function loadConfig(): Promise<DemoConfig> {
  try {
    const res = await fetch('/demo/config');
    if (!res.ok) throw new Error(String(res.status));
    return (await res.json()) as DemoConfig;
  } catch {
    return { auth: false, tokens: false, presenceChannel: 'presence-lobby' };
  }
}

/**
 * Where the chat subscription starts (`GET /demo/history`): just before the last messages the server's history holds,
 * so that the subscription replays them and a new tab shows the recent conversation. `undefined` (start live) when
 * the server does not say.
 */
export async function loadChatSince(): Promise<StreamPosition | undefined> {
  try {
    const res = await fetch('/demo/history');
    if (!res.ok) return undefined;
    const { since } = (await res.json()) as { since?: StreamPosition };
    return typeof since?.epoch === 'string' && Number.isInteger(since.offset) ? since : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The transport the page uses: `?transport=socketio` picks Socket.IO (through @unisocket/client), `?transport=pusher`
 * the Pusher protocol (through Laravel Echo and pusher-js), anything else the native WebSocket.
 */
export type DemoTransport = 'native' | 'socketio' | 'pusher';
export const transportFromUrl = (): DemoTransport => {
  const transport = new URLSearchParams(location.search).get('transport');
  return transport === 'socketio' || transport === 'pusher' ? transport : 'native';
};

/** socket.io-client's `io`, loaded (a separate chunk) only for the Socket.IO transport. */
export async function loadIo(transport: DemoTransport): Promise<SocketIoConnect | undefined> {
  if (transport !== 'socketio') return undefined;
  const { io } = await import('socket.io-client');
  return io as unknown as SocketIoConnect;
}

/** Reloads the page on another transport. */
export function switchTransport(transport: DemoTransport): void {
  const url = new URL(location.href);
  if (transport === 'native') url.searchParams.delete('transport');
  else url.searchParams.set('transport', transport);
  location.assign(url.href);
}

/** The chat name, kept per browser (localStorage). */
export function storedName(): string {
  return localStorage.getItem(NAME_KEY) ?? `guest-${Math.random().toString(36).slice(2, 6)}`;
}

export function storeName(name: string): void {
  localStorage.setItem(NAME_KEY, name);
}

/** The name this tab signed in with (the first token fixes it; a later name change only changes chat lines). */
let signedInAs: string | undefined;
export const signedInName = (): string | undefined => signedInAs;

/**
 * The client options: `/ws` on this host (or Socket.IO on `/socket.io`); one connection shared by the tabs of this browser (`?share=off` gives each
 * tab its own); reconnect attempts at most 5 s apart; with demo tokens, `getToken` asks `/demo/token` (the stand-in for a sign-in) on every connect and
 * whenever the server asks for a refresh before the token expires.
 */
/**
 * A demo token from `/demo/token` (the stand-in for a sign-in) for the name this tab signed in with (the first call
 * fixes it).
 */
export async function fetchDemoToken(getName: () => string): Promise<string> {
  signedInAs ??= getName() || 'guest';
  const res = await fetch(`/demo/token?name=${encodeURIComponent(signedInAs)}`);
  if (!res.ok) throw new Error(`no token (${res.status})`);
  return ((await res.json()) as { token: string }).token;
}

export function clientOptions(
  config: DemoConfig,
  getName: () => string,
  io: SocketIoConnect | undefined,
): UnisocketClientOptions {
  const share = new URLSearchParams(location.search).get('share') !== 'off';
  const getToken = (): Promise<string> => fetchDemoToken(getName);
  return {
    // the native WebSocket transport on /ws, or Socket.IO on /socket.io (`?transport=socketio`)
    ...(io === undefined
      ? { url: '/ws' }
      : { url: `${location.origin}/socket.io`, transport: 'socketio' as const, io }),
    shareConnection: share,
    // one server that may restart: retry at least every 5 s (the default backoff grows to 10 s)
    reconnect: { maxDelayMs: 5_000 },
    ...(config.tokens ? { getToken } : {}),
  };
}

/** A chat message from the server's history (`GET /demo/history?epoch&after`). */
export interface HistoryMessage {
  id: string;
  offset: number;
  event: string;
  data: unknown;
}

/**
 * The chat's messages after `after` in its epoch, from the server's history: what the page reloads when its client
 * reports a gap. Empty when the server cannot say.
 */
export async function loadChatAfter(after: StreamPosition): Promise<HistoryMessage[]> {
  try {
    const query = new URLSearchParams({ epoch: after.epoch, after: String(after.offset) });
    const res = await fetch(`/demo/history?${query.toString()}`);
    if (!res.ok) return [];
    const body = (await res.json()) as { epoch?: string; messages?: HistoryMessage[] };
    return body.epoch === after.epoch && Array.isArray(body.messages) ? body.messages : [];
  } catch {
    return [];
  }
}
