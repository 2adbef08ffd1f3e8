import { type ChildProcess, fork } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(new URL('./fixtures/upgrade-server.mjs', import.meta.url));

/** A plain node:http server with the service attached, in a child process (see fixtures/upgrade-server.mjs). */
export class UpgradeServer {
  port = 0;
  stderr = '';
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;

  private constructor(options: object) {
    this.#child = fork(FIXTURE, [], {
      env: { ...process.env, FIXTURE_OPTIONS: JSON.stringify(options) },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    this.#child.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    this.#exited = new Promise((resolve) =>
      this.#child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve();
      }),
    );
  }

  static async start(options: object = {}): Promise<UpgradeServer> {
    const server = new UpgradeServer(options);
    server.port = await new Promise<number>((resolve, reject) => {
      server.#child.once('message', (m: { port: number }) => resolve(m.port));
      server.#child.once('exit', () => reject(new Error(`the server exited: ${server.stderr}`)));
    });
    return server;
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  #ask<T>(cmd: string, key: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no answer to ${cmd}; exit ${JSON.stringify(this.exit)}: ${this.stderr}`)),
        5_000,
      );
      const onMessage = (m: Record<string, unknown>): void => {
        if (!(key in m)) return;
        clearTimeout(timer);
        this.#child.off('message', onMessage);
        resolve(m[key] as T);
      };
      this.#child.on('message', onMessage);
      this.#child.send({ cmd });
    });
  }

  /** The child's open file descriptors. */
  fds(): Promise<number> {
    return this.#ask('fds', 'fds');
  }

  refusedUpgrades(): Promise<Record<string, number>> {
    return this.#ask('stats', 'refusedUpgrades');
  }

  async stop(): Promise<void> {
    if (this.exit !== undefined) return;
    this.#child.send({ cmd: 'exit' });
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 5_000);
    await this.#exited;
    clearTimeout(timer);
  }
}

/** Opens a raw TCP connection to the server. */
export function rawSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

/** An HTTP/1.1 upgrade request for `path` (WebSocket, unless `upgrade` says otherwise). */
export function upgradeRequest(path: string, upgrade = 'websocket'): string {
  const ws =
    upgrade === 'websocket' ? 'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' : '';
  return `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: ${upgrade}\r\n${ws}\r\n`;
}

/** Resolves with what the server sent until it closed the connection (or `timeoutMs` passed: `timedOut`). */
export function readUntilClosed(
  socket: Socket,
  timeoutMs: number,
): Promise<{ data: string; timedOut: boolean; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ data, timedOut: true, ms: Date.now() - started });
    }, timeoutMs);
    socket.on('data', (d: Buffer) => {
      data += d.toString();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ data, timedOut: false, ms: Date.now() - started });
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
