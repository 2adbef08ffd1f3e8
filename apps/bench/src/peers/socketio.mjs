/**
 * Socket.IO 4 with its defaults (in-memory adapter), websocket transport only, no compression:
 * `io.to(room).emit(event, data)`. Clients join a room by emitting `subscribe` (or `join`) with `{ channel }`.
 * Across server processes (W4, W6) it uses `@socket.io/redis-adapter`, the way Socket.IO scales (no connection state
 * recovery: that adapter does not support it); over `node:cluster` workers (W3b) `@socket.io/cluster-adapter`.
 */
import { createAdapter } from '@socket.io/redis-adapter';
import { createAdapter as createClusterAdapter } from '@socket.io/cluster-adapter';
import { Redis } from 'ioredis';
import { startSocketIo } from './socketio-server.mjs';

/** @type {import('./types.mjs').Peer} */
export default {
  key: 'socketio',
  protocol: 'socketio',
  description: 'Socket.IO 4 default, io.to(room).emit(event, data); @socket.io/redis-adapter across nodes',
  crossNode: ['redis'],
  storm: true,
  cluster: true,
  start(options) {
    const { broker, clusterWorker } = options;
    if (clusterWorker) {
      return startSocketIo(options, {
        adapter: async (io) => {
          io.adapter(createClusterAdapter());
          return async () => {};
        },
      });
    }
    if (!broker) return startSocketIo(options);
    if (broker.type !== 'redis')
      throw new TypeError(`the socketio peer runs across processes on Redis only, not on ${broker.type}`);
    return startSocketIo(options, {
      adapter: async (io) => {
        const pub = new Redis(broker.url, { lazyConnect: true });
        const sub = pub.duplicate();
        await Promise.all([pub.connect(), sub.connect()]);
        io.adapter(createAdapter(pub, sub, { key: `${broker.prefix}socket.io` }));
        return async () => {
          await Promise.all([pub, sub].map((r) => r.quit().catch(() => r.disconnect())));
        };
      },
    });
  },
};
