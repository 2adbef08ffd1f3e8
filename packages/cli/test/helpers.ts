import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

/** The built binary: the tests run what `npx unisocket` runs. */
export const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'bin.js');

/** A 32-byte secret for JWT_SECRET. */
export const SECRET = 'cli-test-secret-0123456789abcdefghij';

/** The environment a child gets: PATH and HOME only, plus what a test sets (nothing leaks in from the runner). */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...extra };
}

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** A spawned `unisocket` process with its output collected. */
export class Cli {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: string[], env: NodeJS.ProcessEnv, cwd?: string) {
    // its own process group: afterEach kills the workers of a cluster too
    this.child = spawn(process.execPath, [BIN, ...args], { env, cwd, detached: true, stdio: 'pipe' });
    this.child.stdout?.on('data', (d: Buffer) => {
      this.stdout += d.toString();
    });
    this.child.stderr?.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    this.exited = new Promise((r) => this.child.once('exit', (code, signal) => r({ code, signal })));
    running.add(this);
    void this.exited.then(() => running.delete(this));
  }

  /** Resolves when stdout matches (with the match), rejects after `timeoutMs` or when the process exits first. */
  async waitFor(pattern: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    let done = false;
    void this.exited.then(() => {
      done = true;
    });
    while (Date.now() < deadline) {
      const match = this.stdout.match(pattern);
      if (match !== null) return match;
      if (done) break;
      await sleep(25);
    }
    const match = this.stdout.match(pattern);
    if (match !== null) return match;
    throw new Error(`no ${pattern} in the output\n--- stdout\n${this.stdout}\n--- stderr\n${this.stderr}`);
  }

  /** Kills its whole process group. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    try {
      if (this.child.pid !== undefined) process.kill(-this.child.pid, signal);
    } catch {
      // already gone
    }
  }
}

const running = new Set<Cli>();

/** Kills every child still running (call in afterEach). */
export async function killAll(): Promise<void> {
  const all = [...running];
  for (const cli of all) cli.kill('SIGKILL');
  await Promise.all(all.map((cli) => cli.exited));
}

/** Runs a command to its end. */
export async function run(
  args: string[],
  env: NodeJS.ProcessEnv = cleanEnv(),
  timeoutMs = 20_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = new Cli(args, env);
  const timer = setTimeout(() => cli.kill('SIGKILL'), timeoutMs);
  const { code } = await cli.exited;
  clearTimeout(timer);
  return { code, stdout: cli.stdout, stderr: cli.stderr };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A temporary directory for config files, removed by the returned function. */
export function tempDir(): { dir: string; write(name: string, content: unknown): string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'unisocket-cli-'));
  return {
    dir,
    write(name, content) {
      const path = join(dir, name);
      writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
      return path;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A native client recording its frames (newline-batched frames split). */
export class Client {
  readonly ws: WebSocket;
  readonly frames: Record<string, unknown>[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly opened: Promise<void>;

  constructor(url: string, options?: WebSocket.ClientOptions) {
    this.ws = new WebSocket(url, options);
    this.ws.on('message', (data) => {
      for (const line of data.toString().split('\n')) if (line !== '') this.frames.push(JSON.parse(line));
    });
    this.closed = new Promise((r) => this.ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
    this.opened = new Promise((resolveOpen, reject) => {
      this.ws.once('open', () => resolveOpen());
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    this.opened.catch(() => {});
  }

  async frame(type: string, timeoutMs = 5000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const found = this.frames.find((f) => f.type === type);
      if (found !== undefined) return found;
      await sleep(10);
    }
    throw new Error(`no ${type} frame; got ${JSON.stringify(this.frames)}`);
  }

  close(): void {
    this.ws.terminate();
  }
}

/** GET a JSON document (a fresh connection each time, so node:cluster may route it to any worker). */
export async function getJson(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; body: unknown; headers: Headers }> {
  const res = await fetch(url, {
    ...init,
    headers: { connection: 'close', ...(init.headers as Record<string, string>) },
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: res.status, body, headers: res.headers };
}
