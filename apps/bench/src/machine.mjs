/** Facts about the machine and the run, recorded with every result. */
import os from 'node:os';
import net from 'node:net';

/**
 * @param {'full' | 'quick'} mode
 * @param {{ pinned: boolean, serverCpus: string | null, clientCpus: string | null }} layout
 */
export function machineInfo(mode, layout) {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model?.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    date: new Date().toISOString(),
    mode,
    pinned: layout.pinned,
    serverCpus: layout.serverCpus,
    clientCpus: layout.clientCpus,
  };
}

/**
 * Whether client sockets can bind to other loopback addresses (127.0.0.2, …): true on Linux, where all of
 * 127.0.0.0/8 is local. Each client process then gets its own source address, so one address never runs out
 * of ephemeral ports.
 * @returns {Promise<boolean>}
 */
export async function canUseExtraLoopbackAddresses() {
  const server = net.createServer((s) => s.destroy());
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const address = server.address();
  const port = address && typeof address === 'object' ? address.port : 0;
  try {
    return await new Promise((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
  } finally {
    server.close();
  }
}

/**
 * A rotating pool of source addresses 127.0.0.2 … 127.0.0.254: each call hands out the next `count`,
 * so successive runs do not meet their predecessors' TIME_WAIT sockets.
 * @param {boolean} enabled
 * @returns {(count: number) => string[]}
 */
export function sourceAddressPool(enabled) {
  let next = 0;
  return (count) => {
    if (!enabled) return [];
    return Array.from({ length: count }, () => `127.0.0.${2 + (next++ % 253)}`);
  };
}
