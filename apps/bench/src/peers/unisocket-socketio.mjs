/** unisocket, Socket.IO transport: the same Hub, packets pre-encoded once per batch and written to every subscriber. */
import { startUnisocket } from './unisocket.mjs';

/** @type {import('./types.mjs').Peer} */
export default {
  key: 'unisocket-socketio',
  protocol: 'socketio',
  description: 'unisocket Socket.IO transport, service.broadcast(channel, event, data)',
  crossNode: ['redis', 'kafka'],
  start: (options) => startUnisocket(options, 'socketio'),
};
