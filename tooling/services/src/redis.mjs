import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { HOST, defaultLog, formatMs, msSince, redisPort, stateDir } from './config.mjs';
import { canConnect, freePort, waitFor } from './net.mjs';
import { livePid, run, tail, terminate, withLock } from './proc.mjs';

/**
 * Sends an inline PING and returns Redis' first reply line (`+PONG`, `-NOAUTH …`, `-LOADING …`),
 * or undefined when nothing answers. Raw RESP keeps this package free of a Redis client.
 */
export function pingRedis(port = redisPort(), { timeoutMs = 1_000 } = {}) {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: HOST });
    let reply = '';
    const done = (value) => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(timeoutMs, () => done(reply.trim() || undefined));
    socket.once('error', () => done(undefined));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      const end = reply.indexOf('\r\n');
      if (end !== -1) done(reply.slice(0, end));
    });
  });
}

const paths = (port) => {
  const dir = stateDir();
  return {
    pidFile: path.join(dir, `redis-${port}.pid`),
    logFile: path.join(dir, `redis-${port}.log`),
    lockFile: path.join(dir, `redis-${port}.lock`),
    dataDir: path.join(dir, `redis-${port}`),
  };
};

/** Installs Debian's redis-server when it is missing and we are root (CI images); otherwise says how to get it. */
async function ensureRedisInstalled(log) {
  try {
    await run('redis-server', ['--version']);
    return;
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
  }
  if (process.getuid?.() !== 0) {
    throw new Error(
      'redis-server is not installed. Install it (Debian/Ubuntu: "sudo apt-get install -y redis-server", macOS: "brew install redis") ' +
        'or start a Redis yourself and set REDIS_PORT to its port, then retry.',
    );
  }
  const started = performance.now();
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  log('redis-server is not installed; running as root, so installing it: apt-get install -y redis-server');
  try {
    await run('apt-get', ['install', '-y', 'redis-server'], { env });
  } catch {
    log('apt-get install failed; running apt-get update and trying again');
    try {
      await run('apt-get', ['update'], { env });
      await run('apt-get', ['install', '-y', 'redis-server'], { env });
    } catch (err) {
      throw new Error(
        `Could not install redis-server with apt-get. Install Redis 7 by hand and retry.\n${err.message}`,
      );
    }
  }
  log(`installed redis-server in ${formatMs(msSince(started))}`);
}

/**
 * Makes sure a Redis answers at 127.0.0.1:REDIS_PORT (default 6379): reuses one that already answers PING,
 * otherwise starts a daemonized redis-server that keeps nothing on disk and records its PID for `down`.
 * @returns {Promise<{ url: string, port: number, started: boolean, pid?: number }>}
 */
export async function ensureRedis({ log = defaultLog } = {}) {
  const port = redisPort();
  const url = `redis://${HOST}:${port}`;
  if ((await pingRedis(port)) === '+PONG') return { url, port, started: false };

  const p = paths(port);
  fs.mkdirSync(stateDir(), { recursive: true });
  return withLock(p.lockFile, async () => {
    const reply = await pingRedis(port);
    if (reply === '+PONG') return { url, port, started: false };
    if (reply?.startsWith('-LOADING')) {
      await waitFor(async () => (await pingRedis(port)) === '+PONG', {
        timeoutMs: 60_000,
        explain: (why) => `Redis at ${HOST}:${port} is still loading its data set (${why})`,
      });
      return { url, port, started: false };
    }
    if (reply !== undefined || (await canConnect(port))) {
      throw new Error(
        `Something listens on ${HOST}:${port} but does not answer PING with PONG (reply: ${reply ?? 'none'}). ` +
          'If it is a Redis with a password, it cannot be used here; free the port or set REDIS_PORT to another one.',
      );
    }

    await ensureRedisInstalled(log);
    // Debian's package starts its own service when it can; that one is as good as ours.
    if ((await pingRedis(port)) === '+PONG') return { url, port, started: false };

    fs.mkdirSync(p.dataDir, { recursive: true });
    fs.rmSync(p.pidFile, { force: true });
    // --save "" and --appendonly no: test data must never outlive the server.
    await run('redis-server', [
      '--daemonize',
      'yes',
      '--bind',
      HOST,
      '--port',
      String(port),
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      p.dataDir,
      '--logfile',
      p.logFile,
      '--pidfile',
      p.pidFile,
    ]);
    const startedAt = Date.now();
    await waitFor(async () => (await pingRedis(port, { timeoutMs: 500 })) === '+PONG', {
      timeoutMs: 15_000,
      intervalMs: 25,
      // A daemonized redis-server writes its PID file right away; no file after a second means it died.
      abort: () => (Date.now() - startedAt > 1_000 && !fs.existsSync(p.pidFile) ? 'redis-server exited' : undefined),
      explain: (why) => `redis-server on ${HOST}:${port}: ${why}. Last lines of ${p.logFile}:\n${tail(p.logFile)}`,
    });
    return { url, port, started: true, pid: await livePid(p.pidFile, 'redis-server') };
  });
}

/** PID of the Redis `up` started on `port`, if it still runs. */
export function recordedRedisPid(port = redisPort()) {
  return livePid(paths(port).pidFile, 'redis-server');
}

/** Stops the Redis that `up` started on `port` (never one it did not start). Returns its PID, or undefined if none. */
export async function stopRedis({ port = redisPort() } = {}) {
  const p = paths(port);
  const pid = await livePid(p.pidFile, 'redis-server');
  if (pid === undefined) return undefined;
  await terminate(pid, { timeoutMs: 10_000 });
  fs.rmSync(p.pidFile, { force: true });
  return pid;
}

/** Ports of every Redis that `up` started and recorded, whether or not it still runs. */
export function recordedRedisPorts() {
  try {
    return fs
      .readdirSync(stateDir())
      .map((name) => /^redis-(\d+)\.pid$/.exec(name)?.[1])
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

// Private servers die with the test process: on normal exit, and on the signals that would otherwise orphan them.
const privateServers = new Set();
let exitHooksInstalled = false;
function installExitHooks() {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', () => {
    for (const server of privateServers) server.cleanup();
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    // Only when nobody else handles the signal: adding a listener would otherwise cancel the default exit.
    if (process.listenerCount(signal) > 0) continue;
    process.once(signal, () => {
      for (const server of privateServers) server.cleanup();
      process.kill(process.pid, signal);
    });
  }
}

function spawnRedis(port, dir) {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const state = { child, output: '', ready: false, exit: undefined };
  const collect = (chunk) => {
    state.output += chunk.toString();
    // Matching our own child's log line (not just a PONG) proves the port is ours and not another Redis'.
    if (!state.ready && state.output.includes('Ready to accept connections')) state.ready = true;
    state.output = state.output.slice(-8_000);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  state.exited = new Promise((resolve) => {
    child.once('error', (err) => {
      state.exit = err.message;
      resolve();
    });
    child.once('exit', (code, signal) => {
      state.exit = signal ? `killed by ${signal}` : `exit code ${code}`;
      resolve();
    });
  });
  // Unreferenced so a forgotten server never keeps the test process alive; the exit hook kills it.
  child.unref();
  child.stdout.unref?.();
  child.stderr.unref?.();
  return state;
}

/**
 * A private redis-server on a free port (or `port`) that a test may kill and restart mid-stream.
 * Nothing is persisted; it is killed when the process exits.
 */
export async function startRedisServer({ port } = {}) {
  await ensureRedisInstalled(defaultLog);
  installExitHooks();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unisocket-redis-'));
  let current;
  let chosenPort = port;

  const entry = {
    cleanup() {
      if (current && !current.exit) current.child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };

  async function launch() {
    for (let attempt = 1; ; attempt++) {
      const tryPort = chosenPort ?? (await freePort());
      fs.mkdirSync(dir, { recursive: true });
      const state = spawnRedis(tryPort, dir);
      current = state;
      privateServers.add(entry);
      try {
        await waitFor(async () => state.ready && (await pingRedis(tryPort, { timeoutMs: 500 })) === '+PONG', {
          timeoutMs: 15_000,
          intervalMs: 20,
          abort: () => state.exit && `redis-server exited (${state.exit})`,
          explain: (why) => `private redis-server on port ${tryPort}: ${why}\n${state.output.trim()}`,
        });
        chosenPort = tryPort;
        return;
      } catch (err) {
        if (!state.exit) {
          state.child.kill('SIGKILL');
          await state.exited;
        }
        // Someone took the free port between our probe and the bind: pick another one, unless the caller chose it.
        const raced = port === undefined && chosenPort === undefined && /already in use/i.test(state.output);
        if (!raced || attempt >= 3) throw err;
      }
    }
  }

  async function stopCurrent(timeoutMs) {
    if (!current || current.exit) return current?.exited;
    current.child.kill('SIGTERM');
    const timer = setTimeout(() => current.child.kill('SIGKILL'), timeoutMs);
    await current.exited;
    clearTimeout(timer);
  }

  await launch();
  return {
    get url() {
      return `redis://${HOST}:${chosenPort}`;
    },
    get port() {
      return chosenPort;
    },
    get pid() {
      return current.exit ? undefined : current.child.pid;
    },
    async stop() {
      await stopCurrent(5_000);
      privateServers.delete(entry);
      fs.rmSync(dir, { recursive: true, force: true });
    },
    kill(signal = 'SIGKILL') {
      if (!current.exit) current.child.kill(signal);
    },
    async restart() {
      await stopCurrent(5_000);
      await launch();
    },
  };
}

/** Removes the state `up` keeps for the Redis on `port` (PID file, log, working dir). */
export function purgeRedis(port) {
  const p = paths(port);
  for (const file of [p.pidFile, p.logFile, p.dataDir]) fs.rmSync(file, { recursive: true, force: true });
}
