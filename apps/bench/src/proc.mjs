/**
 * Spawning the server and load-generator processes, and talking to them over Node's IPC channel.
 *
 * Every child is a plain `node` process. When `taskset` is available (Linux), the server is pinned to one
 * core and the load generators to the others, so the server gets exactly one core and the load generator's
 * CPU use is measured against the cores it actually has (see README, "CPU accounting").
 */
import { spawn, execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

let tasksetChecked = false;
let tasksetOk = false;

/** Whether processes can be pinned to cores with `taskset` (util-linux). */
export function canPin() {
  if (!tasksetChecked) {
    tasksetChecked = true;
    try {
      execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
      tasksetOk = true;
    } catch {
      tasksetOk = false;
    }
  }
  return tasksetOk;
}

/**
 * The CPU layout of a run: which cores the server and the load generators get.
 * With 1 core nothing is pinned. With n ≥ 2 cores the server gets core 0 and the clients cores 1…n-1.
 * @param {boolean} wantPin
 * @returns {{ pinned: boolean, serverCpus: string | null, clientCpus: string | null, clientCores: number }}
 */
export function cpuLayout(wantPin) {
  const cores = availableParallelism();
  if (!wantPin || cores < 2 || !canPin()) {
    return { pinned: false, serverCpus: null, clientCpus: null, clientCores: cores };
  }
  return { pinned: true, serverCpus: '0', clientCpus: cores === 2 ? '1' : `1-${cores - 1}`, clientCores: cores - 1 };
}

/** @type {Set<import('node:child_process').ChildProcess>} */
const live = new Set();

function killAll() {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
}
process.on('exit', killAll);

/**
 * A child process with request/response over IPC. Requests carry an `id`; the child answers with the same id.
 */
export class Child {
  /**
   * @param {string} name for error messages
   * @param {string} script absolute path of the entry point
   * @param {{ execArgv?: string[], cpus?: string | null, env?: NodeJS.ProcessEnv }} [options]
   */
  constructor(name, script, options = {}) {
    this.name = name;
    const nodeArgs = [...(options.execArgv ?? []), script];
    const [cmd, args] = options.cpus
      ? ['taskset', ['-c', options.cpus, process.execPath, ...nodeArgs]]
      : [process.execPath, nodeArgs];
    this.proc = spawn(cmd, args, {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, ...options.env },
    });
    live.add(this.proc);
    this.nextId = 1;
    /** @type {Map<number, { resolve: (v: any) => void, reject: (e: Error) => void, timer: NodeJS.Timeout }>} */
    this.pending = new Map();
    /** @type {Error | null} */
    this.exitError = null;
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        live.delete(this.proc);
        this.exitError = new Error(`${this.name} exited (code ${code}, signal ${signal})`);
        for (const p of this.pending.values()) {
          clearTimeout(p.timer);
          p.reject(this.exitError);
        }
        this.pending.clear();
        resolve(undefined);
      });
    });
    this.proc.on('message', (/** @type {any} */ msg) => {
      const p = this.pending.get(msg?.id);
      if (!p) return;
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.error) p.reject(new Error(`${this.name}: ${msg.error}`));
      else p.resolve(msg.result);
    });
  }

  /**
   * @param {string} cmd
   * @param {Record<string, unknown>} [args]
   * @param {number} [timeoutMs]
   * @returns {Promise<any>}
   */
  request(cmd, args = {}, timeoutMs = 60_000) {
    if (this.exitError) return Promise.reject(this.exitError);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: '${cmd}' timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.proc.send({ id, cmd, ...args });
    });
  }

  /** Ask the child to exit, kill it if it does not within `graceMs`. */
  async stop(graceMs = 3000) {
    if (this.exitError) return;
    this.request('exit', {}, graceMs).catch(() => {});
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * Child side: serve requests from the parent. Handlers may be async; their result is sent back.
 * `exit` is built in. The child exits when the parent goes away.
 * @param {Record<string, (msg: any) => unknown>} handlers
 */
export function serveRequests(handlers) {
  if (!process.send) throw new TypeError('this entry point must be spawned with an IPC channel (by the bench harness)');
  process.on('disconnect', () => process.exit(0));
  process.on('message', async (/** @type {any} */ msg) => {
    const { id, cmd } = msg;
    if (cmd === 'exit') {
      process.send?.({ id, result: true }, () => process.exit(0));
      return;
    }
    const handler = handlers[cmd];
    try {
      if (!handler) throw new Error(`unknown command '${cmd}'`);
      const result = await handler(msg);
      process.send?.({ id, result });
    } catch (err) {
      process.send?.({ id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    }
  });
}
