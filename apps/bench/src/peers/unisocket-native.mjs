/** unisocket, native transport: serialize once, coalesce per channel per tick, frame once, write to every subscriber. */
import { startUnisocket } from './unisocket.mjs';

/** @type {import('./types.mjs').Peer} */
export default {
  key: 'unisocket-native',
  protocol: 'ws',
  description: 'unisocket native transport, service.broadcast(channel, event, data)',
  crossNode: ['redis', 'kafka'],
  storm: true,
  cluster: true,
  start: (options) => startUnisocket(options, 'native'),
};
