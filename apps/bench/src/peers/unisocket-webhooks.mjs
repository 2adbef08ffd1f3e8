/**
 * unisocket native transport with webhooks on for every lifecycle event (occupancy tracked, client events and
 * connection events bound) and a dead receiver: nothing listens on its port, so every delivery fails, retries and
 * opens the endpoint's circuit breaker. Measures what webhooks cost the publish path when the receiver is down
 * (issue 16: W1 within 5 % of unisocket-native).
 */
import { createServer } from 'node:net';
import { startUnisocket } from './unisocket.mjs';

/** A loopback port nothing listens on: bound, read, released. */
async function deadPort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const address = server.address();
  await new Promise((resolve) => server.close(() => resolve(undefined)));
  return typeof address === 'object' && address !== null ? address.port : 9;
}

/** @type {import('./types.mjs').Peer} */
export default {
  key: 'unisocket-webhooks',
  protocol: 'ws',
  description: 'unisocket native transport, webhooks on for every lifecycle event, to a dead receiver',
  start: async (options) =>
    startUnisocket(options, 'native', {
      webhooks: [
        {
          url: `http://127.0.0.1:${await deadPort()}/webhook`,
          secret: 'unisocket-bench-webhook-secret',
          key: 'bench',
          events: [
            'channel_occupied',
            'channel_vacated',
            'member_added',
            'member_removed',
            'client_event',
            'cache_miss',
            'connection_opened',
            'connection_closed',
          ],
          timeoutMs: 1_000,
        },
      ],
    }),
};
