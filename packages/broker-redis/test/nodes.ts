import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { REDIS_URL } from './redis';

const FIXTURE = fileURLToPath(new URL('./fixtures/node.mjs', import.meta.url));

export interface NodeOptions {
  nodeId: string;
  keyPrefix: string;
  redisUrl?: string;
  /** Where the node's Redis is, as fixture environment (a {@link RedisTarget}'s `nodeEnv()`); wins over `redisUrl`. */
  redisEnv?: Record<string, string>;
  historySize?: number;
  presenceRefreshMs?: number;
  /** The presence lease (default 3 × `presenceRefreshMs`). */
  presenceLeaseMs?: number;
  /** The Hub's `presence.leaveGraceMs` (default 0). */
  leaveGraceMs?: number;
  /** Track occupancy with this grace, in ms (default: not tracked). */
  occupancyGraceMs?: number;
  /** The broker's `idempotencyWindowMs` (default the broker's). */
  idempotencyWindowMs?: number;
}

/** The Hub events a node recorded (see {@link NodeProcess.events}). */
export interface NodeEvents {
  occupancy: { channel: string; action: 'occupied' | 'vacated'; at: number }[];
  presence: { channel: string; action: 'join' | 'leave'; userId: string; at: number }[];
}

type Reply = Record<string, unknown> & { rid: number };

/** A unisocket node in a child process (test/fixtures/node.mjs), driven over IPC. */
export class NodeProcess {
  readonly #child: ChildProcess;
  readonly #waiting = new Map<number, (reply: Reply) => void>();
  #rid = 0;
  #stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    child: ChildProcess,
    readonly nodeId: string,
    readonly port: number,
  ) {
    this.#child = child;
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null)
        resolve({ code: child.exitCode, signal: child.signalCode });
      else child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    child.on('message', (message: Reply) => {
      const resolve = this.#waiting.get(message.rid);
      if (resolve === undefined) return;
      this.#waiting.delete(message.rid);
      resolve(message);
    });
  }

  static async start(options: NodeOptions): Promise<NodeProcess> {
    const child = fork(FIXTURE, [], {
      env: {
        ...process.env,
        ...(options.redisEnv ?? { REDIS_URL: options.redisUrl ?? REDIS_URL }),
        KEY_PREFIX: options.keyPrefix,
        NODE_ID: options.nodeId,
        PORT: '0',
        HISTORY_SIZE: String(options.historySize ?? 1000),
        PRESENCE_REFRESH_MS: String(options.presenceRefreshMs ?? 5000),
        ...optionalEnv({
          PRESENCE_LEASE_MS: options.presenceLeaseMs,
          LEAVE_GRACE_MS: options.leaveGraceMs,
          OCCUPANCY_GRACE_MS: options.occupancyGraceMs,
          IDEMPOTENCY_WINDOW_MS: options.idempotencyWindowMs,
        }),
      },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-20_000);
    });
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`node ${options.nodeId} did not start:\n${stderr}`)), 20_000);
      child.once('exit', (code) => reject(new Error(`node ${options.nodeId} exited with ${code}:\n${stderr}`)));
      child.on('message', (m: { type?: string; port?: number }) => {
        if (m.type === 'listening') {
          clearTimeout(timer);
          resolve(m.port!);
        }
      });
    });
    const node = new NodeProcess(child, options.nodeId, port);
    child.stderr!.on('data', (chunk: Buffer) => {
      node.#stderr = (node.#stderr + chunk.toString()).slice(-20_000);
    });
    return node;
  }

  get pid(): number {
    return this.#child.pid!;
  }

  get alive(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  get stderr(): string {
    return this.#stderr;
  }

  /** The WebSocket URL, optionally authenticated as `user`. */
  url(user?: string): string {
    return `ws://127.0.0.1:${this.port}/ws${user === undefined ? '' : `?user=${encodeURIComponent(user)}`}`;
  }

  request<T = Record<string, unknown>>(message: Record<string, unknown>, timeoutMs = 30_000): Promise<T> {
    const rid = ++this.#rid;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`node ${this.nodeId}: no reply to ${String(message.type)}`)),
        timeoutMs,
      );
      this.#waiting.set(rid, (reply) => {
        clearTimeout(timer);
        resolve(reply as T);
      });
      this.#child.send({ ...message, rid });
    });
  }

  async publish(channel: string, data: unknown): Promise<{ epoch: string; offset: number }> {
    const reply = await this.request<{ ok: boolean; ack: { epoch: string; offset: number }; message?: string }>({
      type: 'publish',
      channel,
      data,
    });
    if (!reply.ok) throw new Error(`publish on ${this.nodeId} failed: ${reply.message}`);
    return reply.ack;
  }

  /** Starts publishing round-robin on `channels`, one message every `intervalMs`. */
  startLoop(channels: string[], intervalMs: number, tag = this.nodeId): void {
    this.#child.send({ type: 'loopStart', channels, intervalMs, tag });
  }

  stopLoop(): Promise<{ acks: { channel: string; epoch: string; offset: number; seq: number }[]; errors: number }> {
    return this.request({ type: 'loopStop' });
  }

  /** The Hub's `occupancy` and `presence` events on this node since it started. */
  events(): Promise<NodeEvents> {
    return this.request<NodeEvents>({ type: 'events' });
  }

  async health(): Promise<{ status: string; broker: { state: string; detail?: string } }> {
    const response = await fetch(`http://127.0.0.1:${this.port}/health`);
    return (await response.json()) as { status: string; broker: { state: string } };
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<unknown> {
    if (this.alive) this.#child.kill(signal);
    return this.exited;
  }

  /** Graceful stop (SIGTERM: connections closed with 1001, presence removed, broker closed). */
  async stop(): Promise<void> {
    if (!this.alive) return;
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** The environment variables of the options that were given (the fixture's defaults apply to the others). */
function optionalEnv(values: Record<string, number | undefined>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(values)) if (value !== undefined) env[name] = String(value);
  return env;
}
