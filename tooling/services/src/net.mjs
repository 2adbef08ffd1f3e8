import net from 'node:net';
import { HOST } from './config.mjs';
import { sleep } from './proc.mjs';

/** A TCP port that was free a moment ago (the OS picks it); another process can still take it before you bind. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export function canConnect(port, { host = HOST, timeoutMs = 1_000 } = {}) {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Polls `probe` until it returns a truthy value. `abort` is checked between tries so a crashed server
 * fails fast instead of running out the clock; both `abort` and the timeout throw what `explain` returns.
 */
export async function waitFor(probe, { timeoutMs, intervalMs = 200, abort = () => undefined, explain }) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    const reason = abort();
    if (reason) throw new Error(explain(reason));
    if (Date.now() > deadline) throw new Error(explain(`not ready after ${Math.round(timeoutMs / 1000)} s`));
    await sleep(intervalMs);
  }
}
