/**
 * Shared plumbing of the unisocket peers: a plain `node:http` server with `createUnifiedWebSocketService` attached,
 * default options except the connection limits (the harness opens thousands of sockets from few addresses). The
 * Pusher peer adds the one app the Pusher transport requires ({@link PUSHER_APP}); its clients connect to
 * `/app/{key}?protocol=7`.
 *
 * `publish` calls `service.hub.publish(channel, event, data)` — the path `service.broadcast` takes, without the
 * promise `broadcast` returns to its caller (the raw peers create none either).
 */
import { createServer } from 'node:http';
import { createUnifiedWebSocketService } from '@unisocket/server';

/** The Pusher app of the unisocket-pusher peer (the transport needs one; its secret signs nothing in the bench). */
export const PUSHER_APP = {
  id: 'bench',
  key: 'bench-key',
  secret: 'unisocket-bench-secret-not-for-production-use',
};

/** W6: messages kept per channel, so a client that was away during the storm finds what it missed. */
export const STORM_HISTORY_SIZE = 1000;

/**
 * @param {import('./types.mjs').PeerStartOptions} options
 * @param {'native' | 'socketio' | 'pusher'} transport
 * @param {import('@unisocket/server').UnifiedWebSocketServiceOptions} [extra] more service options (a variant peer's)
 */
export async function startUnisocket({ host, port, broker, recovery }, transport, extra = {}) {
  const http = createServer((_req, res) => {
    res.writeHead(404).end();
  });
  const service = createUnifiedWebSocketService({
    transports: [transport],
    path: '/ws',
    limits: { maxConnections: 100_000, maxConnectionsPerIp: 100_000 },
    ...(transport === 'pusher' ? { pusher: { apps: [PUSHER_APP] } } : {}),
    ...(broker ? { broker: brokerConfig(broker) } : {}),
    // W6: room for the messages a client misses during a storm (the default keeps 100 per channel)
    ...(recovery ? { history: { size: STORM_HISTORY_SIZE } } : {}),
    ...extra,
  });
  await service.initialize(http);
  await new Promise((resolve, reject) => {
    http.once('error', reject);
    http.listen({ host, port, backlog: 4096 }, () => resolve(undefined));
  });
  const address = http.address();
  if (!address || typeof address === 'string') throw new Error('unexpected server address');
  const hub = service.hub;
  return {
    port: address.port,
    ...(transport === 'native' ? { path: '/ws' } : {}),
    ...(transport === 'pusher' ? { path: `/app/${PUSHER_APP.key}?protocol=7` } : {}),
    /** @param {string} channel @param {string} event @param {unknown} data */
    publish(channel, event, data) {
      hub.publish(channel, event, data);
    },
    /** W6: recovery reads asked/issued/merged, the queue's peak, refusals (see docs/deploys.md) */
    stats: () => ({ ...hub.recoveryStats() }),
    close: async () => {
      await service.shutdown();
      http.closeAllConnections();
      await new Promise((resolve) => http.close(() => resolve(undefined)));
    },
  };
}

/**
 * The factory's `broker` option for a W4 run's backend.
 * @param {import('./types.mjs').BenchBroker} broker
 * @returns {import('@unisocket/server').BrokerConfig}
 */
function brokerConfig(broker) {
  if (broker.type === 'redis') return { type: 'redis', url: broker.url, keyPrefix: broker.prefix };
  return {
    type: 'kafka',
    brokers: broker.brokers,
    topic: broker.topic,
    groupIdPrefix: broker.topic,
    partitions: 1,
    clientId: 'unisocket-bench',
  };
}
