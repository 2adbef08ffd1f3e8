/**
 * Socket.IO 4 with `@socket.io/redis-streams-adapter` and connection state recovery: the Socket.IO setup that claims
 * to recover what a client missed while it was away (W6). socket.io-client sends its session id and the offset of the
 * last packet it got when it reconnects; the server restores the session's rooms and replays the missed packets
 * from the Redis stream, if it finds the session (`socket.recovered`). Runs across server processes on Redis only.
 */
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { Redis } from 'ioredis';
import { startSocketIo } from './socketio-server.mjs';

/** How long a disconnected session can be recovered (Socket.IO's default is 2 minutes). */
const MAX_DISCONNECTION_MS = 120_000;

/** @type {import('./types.mjs').Peer} */
export default {
  key: 'socketio-streams',
  protocol: 'socketio',
  description: 'Socket.IO 4, @socket.io/redis-streams-adapter with connectionStateRecovery',
  crossNode: ['redis'],
  storm: true,
  only: ['W6'],
  start(options) {
    const { broker } = options;
    if (broker?.type !== 'redis')
      throw new TypeError('the socketio-streams peer runs across server processes on Redis (give it a redis broker)');
    return startSocketIo(options, {
      serverOptions: {
        connectionStateRecovery: { maxDisconnectionDuration: MAX_DISCONNECTION_MS, skipMiddlewares: true },
      },
      adapter: async (io) => {
        const redis = new Redis(broker.url, { lazyConnect: true });
        await redis.connect();
        io.adapter(
          createAdapter(redis, {
            streamName: `${broker.prefix}socket.io`,
            sessionKeyPrefix: `${broker.prefix}sio:session:`,
          }),
        );
        return async () => {
          await redis.quit().catch(() => redis.disconnect());
        };
      },
    });
  },
};
