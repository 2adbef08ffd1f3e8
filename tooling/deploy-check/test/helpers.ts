import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

export const root = resolve(__dirname, '..', '..', '..');
export const deployDir = join(root, 'deploy');

/** One Dockerfile instruction: its keyword and its arguments, continuation lines joined. */
export interface Instruction {
  keyword: string;
  args: string;
  stage: number;
}

/** The instructions of a Dockerfile, by stage (0 = the first FROM). Comments and blank lines are dropped. */
export function parseDockerfile(text: string): Instruction[] {
  const logical: string[] = [];
  let current = '';
  for (const line of text.split('\n')) {
    if (current === '' && (line.trim() === '' || line.trimStart().startsWith('#'))) continue;
    if (line.trimStart().startsWith('#')) continue; // a comment inside a continued instruction
    if (line.endsWith('\\')) {
      current += line.slice(0, -1); // Docker drops the escape and the newline
      continue;
    }
    logical.push(current + line);
    current = '';
  }
  let stage = -1;
  return logical.map((line) => {
    const match = /^\s*(\w+)\s+([\s\S]*)$/.exec(line);
    if (!match) throw new Error(`unparsable Dockerfile line: ${line}`);
    const keyword = match[1]!.toUpperCase();
    if (keyword === 'FROM') stage++;
    return { keyword, args: match[2]!.trim(), stage };
  });
}

/** The runtime stage's start command, healthcheck command and environment, as the Dockerfile gives them. */
export interface RuntimeSpec {
  cmd: string[];
  healthcheck: string[];
  env: Record<string, string>;
  workdir: string;
  user: string;
  expose: string;
  /** The build stage's RUN commands that produce the runtime stage's files (the ones writing /packs and /out). */
  packSteps: string[];
  /** What the runtime stage copies from the build stage: `[from, to]`. */
  copy: [string, string];
}

export function runtimeSpec(dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8')): RuntimeSpec {
  const instructions = parseDockerfile(dockerfile);
  const last = Math.max(...instructions.map((i) => i.stage));
  const runtime = instructions.filter((i) => i.stage === last);
  const one = (keyword: string): string => {
    const found = runtime.filter((i) => i.keyword === keyword);
    if (found.length !== 1) throw new Error(`the runtime stage needs exactly one ${keyword}, has ${found.length}`);
    return found[0]!.args;
  };
  const cmd = JSON.parse(one('CMD')) as string[];
  const hc = /^(?:--\S+\s+)*CMD\s+(\[[\s\S]*\])$/.exec(one('HEALTHCHECK'));
  if (!hc) throw new Error('HEALTHCHECK must be `[options] CMD [exec form]`');
  const env: Record<string, string> = {};
  for (const e of runtime.filter((i) => i.keyword === 'ENV')) {
    for (const pair of e.args.split(/\s+/)) {
      const [k, ...v] = pair.split('=');
      env[k!] = v.join('=');
    }
  }
  const copy = /^--from=\S+\s+(\S+)\s+(\S+)$/.exec(one('COPY'));
  if (!copy) throw new Error('the runtime stage must COPY --from=build <dir> <dir>');
  return {
    cmd,
    healthcheck: JSON.parse(hc[1]!) as string[],
    env,
    workdir: one('WORKDIR'),
    user: one('USER'),
    expose: one('EXPOSE'),
    packSteps: instructions
      .filter((i) => i.stage < last && i.keyword === 'RUN' && /(^|\s)\/(packs|out)\b/.test(i.args))
      .map((i) => i.args),
    copy: [copy[1]!, copy[2]!],
  };
}

/** A port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error())));
    });
  });
}

/** A child process whose output is kept (for failure messages) and whose exit can be awaited. */
export interface Proc {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function start(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Proc {
  // its own process group, so that a signal reaches what it runs too (npx does not pass SIGTERM on to its command)
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once('exit', (code, signal) => done({ code, signal })),
  );
  return { child, output: () => out, exited };
}

/** Sends `signal` to the process group of a process started by {@link start}: the process and everything it runs. */
export function signalGroup(proc: Proc, signal: NodeJS.Signals): void {
  try {
    process.kill(-proc.child.pid!, signal);
  } catch {
    // the group is gone already
  }
}

/** Stops a process started by {@link start} and what it runs (SIGTERM to its group, then SIGKILL after `ms`). */
export async function stop(proc: Proc | undefined, ms = 5000): Promise<void> {
  if (!proc) return;
  const running = proc.child.exitCode === null && proc.child.signalCode === null;
  signalGroup(proc, 'SIGTERM');
  const timer = setTimeout(() => signalGroup(proc, 'SIGKILL'), ms);
  if (running) await proc.exited;
  clearTimeout(timer);
  // a child that outlived its parent (the group still exists) is killed too
  signalGroup(proc, 'SIGKILL');
}

/** Polls `check` every `everyMs` until it returns a value other than `undefined`, or throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  everyMs = 250,
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
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Whether an executable is on PATH. */
export function onPath(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** The CLI is built by another change; the checks that run it need its package in this checkout. */
export const cliPresent = existsSync(join(root, 'packages', 'cli', 'package.json'));

/**
 * A tool the test needs is missing: under CI=true that fails the test (CI installs it, see .ci/run); elsewhere the
 * test is skipped with a warning that says how to install it.
 */
export function requireTool(name: string, install: string, skip: () => void): void {
  if (onPath(name)) return;
  if (process.env.CI === 'true') throw new Error(`${name} is not installed (CI=true): ${install}`);
  console.warn(`deploy-check: ${name} is not installed, skipping (${install})`);
  skip();
}
