/**
 * Shared plumbing of the Socket.IO peers: a `node:http` server with a Socket.IO 4 server (websocket transport only,
 * no compression), rooms joined by emitting `subscribe` (or `join`) with `{ channel }`, `io.to(room).emit(event,
 * data)` to publish. The peers differ in the adapter that joins server processes and in connection state recovery.
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';

/**
 * @typedef {object} SocketIoSetup
 * @property {Partial<import('socket.io').ServerOptions>} [serverOptions] more Socket.IO server options
 * @property {(io: import('socket.io').Server) => Promise<() => Promise<void>>} [adapter] installs the adapter; returns
 *   what closes its connections
 */

/**
 * @param {import('./types.mjs').PeerStartOptions} options
 * @param {SocketIoSetup} [setup]
 * @returns {Promise<import('./types.mjs').PeerServer>}
 */
export async function startSocketIo({ host, port }, setup = {}) {
  const http = createServer();
  const io = new Server(http, {
    transports: ['websocket'],
    perMessageDeflate: false,
    serveClient: false,
    ...setup.serverOptions,
  });
  const closeAdapter = setup.adapter ? await setup.adapter(io) : async () => {};
  io.on('connection', (socket) => {
    /** @param {any} arg @param {unknown} ack */
    const join = (arg, ack) => {
      const channel = typeof arg === 'string' ? arg : arg?.channel;
      if (typeof channel !== 'string') return;
      socket.join(channel);
      if (typeof ack === 'function') ack({ type: 'ack', channel });
    };
    socket.on('subscribe', join);
    socket.on('join', join);
  });
  await new Promise((resolve, reject) => {
    http.once('error', reject);
    http.listen({ host, port, backlog: 4096 }, () => resolve(undefined));
  });
  const address = http.address();
  if (!address || typeof address === 'string') throw new Error('unexpected server address');
  return {
    port: address.port,
    publish(channel, event, data) {
      io.to(channel).emit(event, data);
    },
    close: async () => {
      io.disconnectSockets(true);
      await new Promise((resolve) => io.close(() => resolve(undefined)));
      await closeAdapter();
    },
  };
}
