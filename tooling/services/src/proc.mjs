import { execFile } from 'node:child_process';
import fs from 'node:fs';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Alive means running: a zombie answers kill(pid, 0) too, so Linux's /proc state is checked as well. */
export function isAlive(pid) {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return err.code === 'EPERM';
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return true; // no /proc (macOS): kill(pid, 0) is all we have
  }
}

/** The command line of a process, to make sure a recorded PID was not reused by something else before signalling it. */
export async function commandLine(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return new Promise((resolve) => {
      execFile('ps', ['-o', 'command=', '-p', String(pid)], (err, stdout) => resolve(err ? '' : stdout.trim()));
    });
  }
}

export function readPid(file) {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The recorded PID if that process still runs and its command line contains `marker`; stale files are removed. */
export async function livePid(file, marker) {
  const pid = readPid(file);
  if (pid === undefined) return undefined;
  if (isAlive(pid) && (await commandLine(pid)).includes(marker)) return pid;
  fs.rmSync(file, { force: true });
  return undefined;
}

/** SIGTERM, then SIGKILL after `timeoutMs`. Resolves once the process is gone; returns how it ended. */
export async function terminate(pid, { timeoutMs = 30_000 } = {}) {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return 'gone';
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return 'SIGTERM';
    await sleep(100);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return 'SIGTERM';
  }
  while (isAlive(pid)) await sleep(50);
  return 'SIGKILL';
}

/**
 * Serialises starts and stops across processes (two `up`s, a globalSetup and a test file at once).
 * The lock file holds the owner's PID so a crashed owner's lock is taken over instead of waited on forever.
 */
export async function withLock(file, fn, { timeoutMs = 15 * 60_000, what = 'services' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
    const owner = readPid(file);
    const ageMs = Date.now() - (fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
    if (owner !== undefined ? !isAlive(owner) : ageMs > 5_000) {
      fs.rmSync(file, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `Timed out waiting for process ${owner} to finish starting/stopping ${what} (lock ${file}). If it hung, stop it or delete the lock file.`,
      );
    }
    await sleep(250);
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/** The last `lines` lines of a log file, for error messages. */
export function tail(file, lines = 30) {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text
      .split('\n')
      .slice(-lines - 1)
      .join('\n')
      .trimEnd();
  } catch {
    return `(no ${file})`;
  }
}

/** Runs a command to completion, collecting output; rejects with the output tail so the cause is visible. */
export function run(cmd, args, { env, cwd, timeoutMs } = {}) {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { env: { ...process.env, ...env }, cwd, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (!err) return resolve({ stdout, stderr });
        const output = `${stdout}${stderr}`.trim().split('\n').slice(-40).join('\n');
        const error = new Error(
          `${cmd} ${args.join(' ')} failed (${err.code === 'ENOENT' ? 'not installed' : `exit ${err.code ?? err.signal}`})${output ? `:\n${output}` : ''}`,
        );
        error.code = err.code;
        reject(error);
      },
    );
  });
}
