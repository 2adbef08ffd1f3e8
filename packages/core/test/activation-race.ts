/**
 * Drives the channel-activation race on any pair of Hubs (any broker): a publish stream into a fresh channel,
 * then several subscribers join on a node where the channel is not active yet. Every subscriber must receive
 * every message after its ack's offset, once and in order (or be told with a `resync`). Shared by the memory,
 * Redis and Kafka suites; it imports nothing from core, so each suite passes the Hubs of the build it uses.
 */

/**
 * What the race needs of a Hub, structurally: each suite passes the Hub of the package build it imports (a class
 * with private fields is nominal, so the type of another copy of it would not do).
 */
export interface RaceHub<C extends { id: string }> {
  publish(channel: string, event: string, data: unknown): PromiseLike<{ offset: number }> | { offset: number };
  addConnection(init: { socket: RecordingSocket; transport: 'native'; ip: string }): C;
  handleText(conn: C, text: string): void;
  removeConnection(conn: C): void;
}

/** A transport socket that keeps the frames a client would parse. */
export class RecordingSocket {
  readonly frames: Record<string, unknown>[] = [];
  bufferedBytes = 0;

  sendFrame(frame: object): void {
    this.frames.push(JSON.parse(JSON.stringify(frame)) as Record<string, unknown>);
  }

  sendBatch(batch: { text: string }): void {
    for (const line of batch.text.split('\n')) this.frames.push(JSON.parse(line) as Record<string, unknown>);
  }

  close(): void {}
}

export interface ActivationRaceOptions<C extends { id: string }> {
  /** The node the subscribers join, where the channel is not active yet. */
  subscriberHub: RaceHub<C>;
  /** The node the publishers publish through (the same node or another). */
  publisherHub: RaceHub<C>;
  /** Subscribe-at-activation rounds, each on a fresh channel. */
  rounds: number;
  /** Channel name prefix (unique per run when the backend is shared). */
  prefix: string;
  /** Concurrent publishers. @default 5 */
  publishers?: number;
  /** Subscribers per round. @default 5 */
  subscribers?: number;
  /** How long publishing runs before the subscribers join, in ms. @default 5 */
  leadMs?: number;
  /** How long publishing goes on after they joined, in ms. @default 40 */
  tailMs?: number;
  /** How long to wait for the last messages to arrive, in ms. @default 200 */
  settleMs?: number;
}

export interface ActivationRaceResult {
  /** Subscriptions acknowledged. */
  subscriptions: number;
  /** One line per subscription that missed, duplicated or reordered a message without a resync. */
  failures: string[];
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function runActivationRace<C extends { id: string }>(
  options: ActivationRaceOptions<C>,
): Promise<ActivationRaceResult> {
  const { subscriberHub, publisherHub, rounds, prefix } = options;
  const publishers = options.publishers ?? 5;
  const subscribers = options.subscribers ?? 5;
  const failures: string[] = [];
  let subscriptions = 0;
  for (let round = 0; round < rounds; round++) {
    const channel = `${prefix}.${round}`;
    let stop = false;
    let n = 0;
    const acked: number[] = [];
    const streams = Array.from({ length: publishers }, async (_, p) => {
      while (!stop) {
        const ack = await publisherHub.publish(channel, 'e', { p, n: n++ });
        acked.push(ack.offset);
        await sleep(0);
      }
    });
    await sleep(options.leadMs ?? 5);
    const clients: { conn: C; socket: RecordingSocket }[] = [];
    for (let i = 0; i < subscribers; i++) {
      const socket = new RecordingSocket();
      const conn = subscriberHub.addConnection({ socket, transport: 'native', ip: '127.0.0.1' });
      subscriberHub.handleText(conn, JSON.stringify({ type: 'subscribe', channel, ref: 1 }));
      clients.push({ conn, socket });
    }
    await sleep(options.tailMs ?? 40);
    stop = true;
    await Promise.all(streams);
    acked.sort((a, b) => a - b);
    const last = acked[acked.length - 1] ?? 0;
    const deadline = Date.now() + (options.settleMs ?? 200) + 5_000;
    // wait until every subscriber has the last offset (or the deadline), then check each stream
    for (;;) {
      const done = clients.every(({ socket }) => lastOffset(socket, channel) >= last || hasResync(socket, channel));
      if (done || Date.now() > deadline) break;
      await sleep(20);
    }
    await sleep(options.settleMs ?? 200);
    for (const { conn, socket } of clients) {
      const problem = check(socket, channel, acked);
      if (problem !== undefined) failures.push(`${channel} ${conn.id}: ${problem}`);
      else subscriptions++;
      subscriberHub.removeConnection(conn);
    }
  }
  return { subscriptions, failures };
}

function lastOffset(socket: RecordingSocket, channel: string): number {
  let last = -1;
  for (const f of socket.frames) if (f.type === 'message' && f.channel === channel) last = f.offset as number;
  return last;
}

function hasResync(socket: RecordingSocket, channel: string): boolean {
  return socket.frames.some((f) => f.type === 'resync' && f.channel === channel);
}

/**
 * `undefined` when the subscription received every acknowledged publish after its ack's offset, exactly once and in
 * offset order (offsets need not be consecutive: Kafka's are partition offsets).
 */
function check(socket: RecordingSocket, channel: string, acked: number[]): string | undefined {
  const ack = socket.frames.find((f) => f.type === 'ack' && f.channel === channel);
  if (ack === undefined) {
    const error = socket.frames.find((f) => f.type === 'error');
    return `no ack${error === undefined ? '' : ` (${JSON.stringify(error)})`}`;
  }
  if (hasResync(socket, channel)) return undefined; // told honestly
  const from = ack.offset as number;
  const expected = acked.filter((offset) => offset > from);
  const got: number[] = [];
  for (const f of socket.frames) if (f.type === 'message' && f.channel === channel) got.push(f.offset as number);
  for (let i = 0; i < Math.max(expected.length, got.length); i++) {
    if (got[i] !== expected[i]) {
      return `acked at ${from}: message #${i + 1} after the ack should be offset ${String(expected[i])}, got ${String(got[i])}`;
    }
  }
  return undefined;
}
