/**
 * Socket.IO 4 with its defaults (in-memory adapter), websocket transport only, no compression:
 * `io.to(room).emit(event, data)`. Clients join a room by emitting `subscribe` (or `join`) with `{ channel }`.
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';

/** @type {import('./types.mjs').Peer} */
export default {
  key: 'socketio',
  protocol: 'socketio',
  description: 'Socket.IO 4 default, io.to(room).emit(event, data)',
  async start({ host, port }) {
    const http = createServer();
    const io = new Server(http, { transports: ['websocket'], perMessageDeflate: false, serveClient: false });
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
      },
    };
  },
};
