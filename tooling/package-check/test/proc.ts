import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** What a finished command printed and how it ended. */
export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Killed (SIGKILL) after this long; the result then has `signal: 'SIGKILL'`. */
  timeoutMs: number;
  input?: string;
}

/** Runs a command to its end (bounded by `timeoutMs`) and resolves what it printed; never rejects on a failure. */
export function run(command: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** {@link run}, throwing with the command's output unless it exits 0. */
export async function runOk(command: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    throw new Error(
      `\`${command} ${args.join(' ')}\` in ${options.cwd} ended with ${result.code ?? result.signal}:\n` +
        `${result.stdout}\n${result.stderr}`.trim(),
    );
  }
  return result;
}

/** A child process whose output is kept (for failure messages) and whose exit can be awaited. */
export interface Proc {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts a long-running command; `detached` makes it the leader of a process group of its own. */
export function start(
  command: string,
  args: readonly string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; detached?: boolean },
): Proc {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    detached: options.detached ?? false,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once('exit', (code, signal) => done({ code, signal })),
  );
  return { child, output: () => out, exited };
}

function alive(proc: Proc): boolean {
  return proc.child.exitCode === null && proc.child.signalCode === null;
}

/**
 * Stops a process started by {@link start} and everything it started: its descendants get SIGKILL once it has exited
 * or after `ms` (npx does not pass SIGTERM on to the command it runs, so killing npx alone would orphan it).
 */
export async function stop(proc: Proc | undefined, ms = 5000): Promise<void> {
  if (!proc?.child.pid) return;
  const family = descendants(proc.child.pid);
  if (alive(proc)) {
    proc.child.kill('SIGTERM');
    const timer = setTimeout(() => proc.child.kill('SIGKILL'), ms);
    await proc.exited;
    clearTimeout(timer);
  }
  for (const pid of [...family, ...descendants(proc.child.pid)]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Resolves the process's exit, or `'timeout'` after `ms`. */
export function exitWithin(
  proc: Proc,
  ms: number,
): Promise<{ code: number | null; signal: string | null } | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    proc.exited.finally(() => clearTimeout(timer)),
    new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms))),
  ]);
}

/** Polls `check` every `everyMs` until it returns a value other than `undefined`, or throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** `true` once GET `url` answers 200; `undefined` before (for {@link waitFor}). */
export async function answers200(url: string): Promise<true | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status === 200 ? true : undefined;
  } catch {
    return undefined;
  }
}

interface ProcInfo {
  pid: number;
  ppid: number;
  argv: string[];
}

/** Every process on this machine (Linux /proc): pid, parent pid and argv. */
function processes(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // the command name in parentheses may hold spaces: the fields after its closing parenthesis
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter(Boolean);
      out.push({ pid: Number(name), ppid: Number(fields[1]), argv });
    } catch {
      // exited while listed
    }
  }
  return out;
}

/** The descendants of `pid`, nearest first (breadth-first). */
export function descendants(pid: number): number[] {
  return descendantInfo(pid).map((p) => p.pid);
}

function descendantInfo(pid: number): ProcInfo[] {
  const all = processes();
  const found: ProcInfo[] = [];
  let level = [pid];
  while (level.length > 0) {
    const next = all.filter((p) => level.includes(p.ppid));
    found.push(...next);
    level = next.map((p) => p.pid);
  }
  return found;
}

/**
 * The nearest Node process under `pid` whose argv matches (the `unisocket start` that `npx` runs through `sh -c`):
 * the process a supervisor's SIGTERM is meant for.
 */
export function nodeDescendant(pid: number, matches: (argv: readonly string[]) => boolean): number | undefined {
  return descendantInfo(pid).find((p) => /(^|\/)node$/.test(p.argv[0] ?? '') && matches(p.argv))?.pid;
}
