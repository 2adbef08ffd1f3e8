import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';

const FIXTURE = fileURLToPath(new URL('./fixtures/child-server.mjs', import.meta.url));

export interface ChildEvent {
  event: string;
  [key: string]: unknown;
}

/** A unisocket server in a child process (test/fixtures/child-server.mjs), driven over IPC. */
export class ChildServer {
  readonly events: ChildEvent[] = [];
  stderr = '';
  exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  port = 0;
  readonly #child: ChildProcess;
  #next = 0;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly #waiters: { test: (e: ChildEvent) => boolean; resolve: (e: ChildEvent) => void }[] = [];
  readonly #exit: Promise<void>;

  private constructor(options: object, execArgv: string[]) {
    this.#child = fork(FIXTURE, [], {
      execArgv,
      env: { ...process.env, FIXTURE_OPTIONS: JSON.stringify(options) },
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    this.#child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    this.#child.on('message', (m: { id?: number; result?: unknown; error?: string } & Partial<ChildEvent>) => {
      if (m.id !== undefined) {
        const p = this.#pending.get(m.id);
        this.#pending.delete(m.id);
        if (m.error !== undefined) p?.reject(new Error(m.error));
        else p?.resolve(m.result);
        return;
      }
      const event = m as ChildEvent;
      this.events.push(event);
      for (let i = this.#waiters.length - 1; i >= 0; i--) {
        const w = this.#waiters[i]!;
        if (w.test(event)) {
          this.#waiters.splice(i, 1);
          w.resolve(event);
        }
      }
    });
    this.#exit = new Promise((resolve) => {
      this.#child.on('exit', (code, signal) => {
        this.exited = { code, signal };
        for (const p of this.#pending.values())
          p.reject(new Error(`child exited (${code ?? signal}): ${this.stderr.slice(-2000)}`));
        this.#pending.clear();
        resolve();
      });
    });
  }

  static async start(options: object = {}, execArgv: string[] = []): Promise<ChildServer> {
    const child = new ChildServer(options, execArgv);
    const ready = await child.waitEvent((e) => e.event === 'ready', 15_000);
    child.port = ready.port as number;
    return child;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  get pid(): number {
    return this.#child.pid!;
  }

  call<T = Record<string, unknown>>(cmd: string, args: object = {}, timeoutMs = 60_000): Promise<T> {
    const id = ++this.#next;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`child command ${cmd} timed out`)), timeoutMs);
      this.#pending.set(id, {
        resolve: (v) => (clearTimeout(timer), resolve(v as T)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.#child.send({ id, cmd, ...args });
    });
  }

  waitEvent(test: (e: ChildEvent) => boolean, timeoutMs = 20_000): Promise<ChildEvent> {
    const found = this.events.find(test);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for a child event; last: ${JSON.stringify(this.events.slice(-3))}`)),
        timeoutMs,
      );
      this.#waiters.push({ test, resolve: (e) => (clearTimeout(timer), resolve(e)) });
    });
  }

  /** Asks the child to shut down and waits for it to exit. */
  async stop(): Promise<void> {
    if (this.exited === undefined) {
      await this.call('exit').catch(() => undefined);
      const timer = setTimeout(() => this.#child.kill('SIGKILL'), 10_000);
      await this.#exit;
      clearTimeout(timer);
    }
  }
}

/** A test client: records frames (or only counts them), can stop reading (pauses its TCP socket) and resume. */
export class TestClient {
  readonly ws: WebSocket;
  connectionId = '';
  readonly messages: { channel: string; data: Record<string, unknown>; offset: number; receivedAt: number }[] = [];
  /** Message lines per channel (counted even when not kept). */
  readonly counts = new Map<string, number>();
  bytes = 0;
  closed: { code: number; reason: string } | undefined;
  readonly #keep: boolean;
  readonly #onMessage: ((m: TestClient['messages'][number]) => void) | undefined;

  private constructor(url: string, keep: boolean, onMessage?: (m: TestClient['messages'][number]) => void) {
    this.#keep = keep;
    this.#onMessage = onMessage;
    this.ws = new WebSocket(url, { perMessageDeflate: false });
    this.ws.on('message', (data: Buffer) => {
      const receivedAt = performance.timeOrigin + performance.now();
      this.bytes += data.length;
      for (const line of data.toString().split('\n')) {
        const frame = JSON.parse(line) as Record<string, unknown>;
        if (frame.type === 'welcome') this.connectionId = frame.connectionId as string;
        if (frame.type !== 'message') continue;
        const channel = frame.channel as string;
        this.counts.set(channel, (this.counts.get(channel) ?? 0) + 1);
        const m = { channel, data: frame.data as Record<string, unknown>, offset: frame.offset as number, receivedAt };
        this.#onMessage?.(m);
        if (this.#keep) this.messages.push(m);
      }
    });
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
    });
    this.ws.on('error', () => {});
  }

  /** Connects and subscribes; resolves once every subscription is acknowledged. */
  static async open(
    url: string,
    channels: string[],
    options: { keep?: boolean; onMessage?: (m: TestClient['messages'][number]) => void } = {},
  ): Promise<TestClient> {
    const client = new TestClient(url, options.keep ?? true, options.onMessage);
    await new Promise<void>((resolve, reject) => {
      client.ws.once('open', () => resolve());
      client.ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      client.ws.once('error', reject);
    });
    let acks = 0;
    const acked = new Promise<void>((resolve) => {
      const onAck = (data: Buffer) => {
        for (const line of data.toString().split('\n')) if (line.includes('"type":"ack"')) acks++;
        if (acks >= channels.length) {
          client.ws.off('message', onAck);
          resolve();
        }
      };
      client.ws.on('message', onAck);
      if (channels.length === 0) resolve();
    });
    for (const [i, channel] of channels.entries())
      client.ws.send(JSON.stringify({ type: 'subscribe', channel, ref: i + 1 }));
    await acked;
    return client;
  }

  /** Stops reading: the socket's data stays in the kernel, the server's send buffer fills. */
  pause(): void {
    (this.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  }

  resume(): void {
    (this.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  }

  last(channel: string): TestClient['messages'][number] | undefined {
    for (let i = this.messages.length - 1; i >= 0; i--)
      if (this.messages[i]!.channel === channel) return this.messages[i];
    return undefined;
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close();
    else this.ws.terminate();
  }
}

/** The HTTP status of a refused upgrade, or 101 when it was accepted. */
export function upgradeStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('open', () => {
      resolve(101);
      ws.close();
    });
    ws.on('error', () => {});
  });
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function until(predicate: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
