import { io as realIo } from 'socket.io-client';
import { afterAll, expect } from 'vitest';
import WebSocket from 'ws';
import { type SocketIoConnect, type UnisocketClient, createClient, socketioTransport } from '../src/index';
import { type TestServer, sleep, startServer, waitFor } from './helpers';

/**
 * Soak: many clients, a long stream on a few channels, sockets killed at random while it flows (on the client side
 * like a network drop, and on the server side like a slow-consumer disconnect). At the end every client must hold
 * every message of its channels exactly once, in order: offsets 1..N with the matching data.
 *
 * The same run for each transport: `native` (WebSocket) and `socketio` (socket.io-client; half the clients start on
 * long-polling and upgrade, so messages also cross the upgrade).
 */
const CLIENTS = 200;
const CHANNELS = ['soak.a', 'soak.b', 'soak.c', 'soak.d'];
const PER_CHANNEL = 5_000;
const ROUNDS_PER_TURN = 25; // 100 publishes per event-loop turn
const KILLS_PER_TURN = 3;
const SEED = Number(process.env.SOAK_SEED ?? 20_251_122);

/** A small seeded PRNG (mulberry32): the same disconnects on every run for a given seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export const SOAK_TITLE = `${CLIENTS} clients, ${CHANNELS.length * PER_CHANNEL} messages, random socket kills: every message exactly once, in order`;

interface SoakClient {
  client: UnisocketClient;
  channels: string[];
  /** Offsets received per channel, in arrival order. */
  offsets: Map<string, number[]>;
  /** Messages whose data did not match their channel and offset. */
  wrongData: number;
  /** Cuts the client's current connection like a network failure (no close handshake); false if none is open. */
  cut(): boolean;
}

let server: TestServer | undefined;
const soakClients: SoakClient[] = [];
afterAll(async () => {
  for (const c of soakClients) c.client.disconnect();
  await server?.close();
});

/** Opens a client on `transport` whose current connection the soak can cut. */
function soakClient(
  transport: 'native' | 'socketio',
  i: number,
  url: string,
  sioUrl: string,
): { client: UnisocketClient; cut(): boolean } {
  const reconnect = { initialDelayMs: 50, maxDelayMs: 1_000, factor: 2, stableAfterMs: 2_000 };
  if (transport === 'native') {
    const sockets: WebSocket[] = [];
    // each client gets its own WebSocket class so the test can kill that client's current socket
    const OwnWebSocket = class extends WebSocket {
      constructor(target: string) {
        super(target);
        sockets.push(this);
      }
    };
    return {
      client: createClient({ url, WebSocket: OwnWebSocket, reconnect }),
      cut() {
        const socket = sockets.at(-1);
        if (socket?.readyState !== WebSocket.OPEN) return false;
        socket.terminate();
        return true;
      },
    };
  }
  const sockets: ReturnType<typeof realIo>[] = [];
  const io = ((uri: string, options: Record<string, unknown>) => {
    const socket = realIo(uri, options);
    sockets.push(socket);
    return socket;
  }) as unknown as SocketIoConnect;
  // half the clients start on long-polling and upgrade to WebSocket (socket.io-client's default)
  const factory = socketioTransport(
    i % 2 === 0 || process.env.SOAK_WS_ONLY === '1' ? { io, transports: ['websocket'] } : { io },
  );
  return {
    client: createClient({ url: sioUrl, transport: factory, reconnect }),
    cut() {
      const socket = sockets.at(-1);
      if (socket?.connected !== true) return false;
      const engine = socket.io.engine as unknown as {
        transport: { name: string; ws?: { _socket?: { destroy(): void } } };
        close(): void;
      };
      const tcp = engine.transport.name === 'websocket' ? engine.transport.ws?._socket : undefined;
      if (tcp !== undefined) tcp.destroy();
      else engine.close();
      return true;
    },
  };
}

/** Runs the soak on one transport and asserts exactly-once, in-order delivery. */
export async function runSoak(transport: 'native' | 'socketio'): Promise<void> {
  const started = Date.now();
  const random = prng(SEED);
  server = await startServer({
    transports: [transport],
    history: { size: PER_CHANNEL },
    limits: { maxConnections: 2_000, maxConnectionsPerIp: 2_000 },
  });
  const s = server;

  for (let i = 0; i < CLIENTS; i++) {
    const first = CHANNELS[i % CHANNELS.length]!;
    const channels = i % 2 === 0 ? [first] : [first, CHANNELS[(i + 1) % CHANNELS.length]!];
    const { client, cut } = soakClient(transport, i, s.url, s.sioUrl);
    const entry: SoakClient = { client, channels, offsets: new Map(), wrongData: 0, cut };
    for (const channel of channels) {
      const offsets: number[] = [];
      entry.offsets.set(channel, offsets);
      client.subscribe<{ tick: { ch: string; n: number } }>(channel, {
        events: {
          tick: (data, message) => {
            offsets.push(message.offset);
            if (data.ch !== channel || data.n !== message.offset) entry.wrongData++;
          },
        },
      });
    }
    soakClients.push(entry);
  }
  await Promise.all(soakClients.map((c) => c.client.connect()));
  await waitFor(
    () =>
      soakClients.every((c) => c.channels.every((ch) => c.client.getSnapshot().channels[ch]?.status === 'subscribed')),
    30_000,
    'every subscription',
  );
  const connectedAt = Date.now();

  let clientKills = 0;
  let serverKills = 0;
  const killed = new Set<string>();
  const kill = (): void => {
    const victim = soakClients[Math.floor(random() * CLIENTS)]!;
    const { status, connectionId } = victim.client.getSnapshot();
    // one kill per connection: a connection already killed may still look connected until its close arrives
    if (status !== 'connected' || connectionId === null || killed.has(connectionId)) return;
    killed.add(connectionId);
    const mode = random();
    if (mode < 0.4) {
      // the network drops under the client: no close handshake
      if (!victim.cut()) return;
      clientKills++;
    } else {
      const conn = s.service.hub.getConnection(connectionId);
      if (conn === undefined) return;
      if (mode < 0.7) s.service.hub.disconnect(conn, 4008, 'soak: slow consumer');
      else (conn.socket as unknown as { terminate(): void }).terminate();
      serverKills++;
    }
  };

  for (let round = 1; round <= PER_CHANNEL; round++) {
    for (const ch of CHANNELS) await s.service.broadcast(ch, 'tick', { ch, n: round });
    if (round % ROUNDS_PER_TURN === 0) {
      for (let k = 0; k < KILLS_PER_TURN; k++) kill();
      // let the server flush and the clients read (and reconnect) while the stream goes on
      await sleep(1);
    }
  }
  const publishedAt = Date.now();

  // converged: every client is connected again, live on its channels, and holds every message
  const complete = (c: SoakClient): boolean =>
    c.client.getSnapshot().status === 'connected' &&
    c.channels.every(
      (ch) => c.client.getSnapshot().channels[ch]?.status === 'subscribed' && c.offsets.get(ch)!.length >= PER_CHANNEL,
    );
  // long-polling clients catch up more slowly (an HTTP round trip per poll)
  await waitFor(
    () => soakClients.every(complete),
    transport === 'socketio' ? 120_000 : 60_000,
    'every client to converge',
  );
  // anything extra (a duplicate) would arrive right behind: give it a moment to show up
  await sleep(200);
  const convergedAt = Date.now();

  let deliveries = 0;
  const problems: string[] = [];
  for (const [i, c] of soakClients.entries()) {
    for (const ch of c.channels) {
      const offsets = c.offsets.get(ch)!;
      deliveries += offsets.length;
      if (offsets.length !== PER_CHANNEL) problems.push(`client ${i} ${ch}: ${offsets.length} messages`);
      const wrong = offsets.findIndex((o, k) => o !== k + 1);
      if (wrong !== -1) problems.push(`client ${i} ${ch}: offset ${offsets[wrong]} at position ${wrong + 1}`);
    }
    if (c.wrongData > 0) problems.push(`client ${i}: ${c.wrongData} messages with wrong data`);
  }
  const reconnects = soakClients.reduce((n, c) => n + c.client.stats.reconnects, 0);
  const duplicates = soakClients.reduce((n, c) => n + c.client.stats.duplicates, 0);
  const gaps = soakClients.reduce((n, c) => n + c.client.stats.gaps, 0);
  const hub = s.service.hub.stats;
  const summary = {
    transport,
    seed: SEED,
    clients: CLIENTS,
    messages: CHANNELS.length * PER_CHANNEL,
    deliveries,
    kills: { clientSide: clientKills, serverSide: serverKills },
    reconnects,
    slowConsumers: hub.slowConsumers,
    recoveredSubscribes: hub.recovered,
    notRecovered: hub.notRecovered,
    duplicatesDroppedByClients: duplicates,
    gaps,
    ms: {
      connect: connectedAt - started,
      publish: publishedAt - connectedAt,
      converge: convergedAt - publishedAt,
      total: convergedAt - started,
    },
  };
  console.log(`soak (${transport}): ${JSON.stringify(summary)}`);

  expect(problems.slice(0, 10)).toEqual([]);
  expect(gaps).toBe(0);
  // the server delivers each message once; the client's dedup guard had nothing to drop
  expect(duplicates).toBe(0);
  expect(clientKills + serverKills).toBeGreaterThanOrEqual(100);
  expect(reconnects).toBeGreaterThanOrEqual(clientKills + serverKills);
}
