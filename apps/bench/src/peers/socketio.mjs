/**
 * Socket.IO 4 with its defaults (in-memory adapter), websocket transport only, no compression:
 * `io.to(room).emit(event, data)`. Clients join a room by emitting `subscribe` (or `join`) with `{ channel }`.
 * Across server processes (W4) it uses `@socket.io/redis-adapter`, the way Socket.IO scales.
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';

/** @type {import('./types.mjs').Peer} */
export default {
  key: 'socketio',
  protocol: 'socketio',
  description: 'Socket.IO 4 default, io.to(room).emit(event, data)',
  crossNode: ['redis'],
  async start({ host, port, broker }) {
    const http = createServer();
    const io = new Server(http, { transports: ['websocket'], perMessageDeflate: false, serveClient: false });
    /** @type {Redis[]} */
    const redis = [];
    if (broker?.type === 'redis') {
      const pub = new Redis(broker.url, { lazyConnect: true });
      const sub = pub.duplicate();
      redis.push(pub, sub);
      await Promise.all(redis.map((r) => r.connect()));
      io.adapter(createAdapter(pub, sub, { key: `${broker.prefix}socket.io` }));
    } else if (broker) {
      throw new TypeError(`the socketio peer runs across processes on Redis only, not on ${broker.type}`);
    }
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
        await Promise.all(redis.map((r) => r.quit().catch(() => r.disconnect())));
      },
    };
  },
};
