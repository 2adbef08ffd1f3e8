/**
 * unisocket, Pusher transport (protocol 7): the same Hub, each batch translated once into Pusher events (one WebSocket
 * frame per event: Pusher has no newline batching) and the same buffer written to every subscriber.
 */
import { startUnisocket } from './unisocket.mjs';

/** @type {import('./types.mjs').Peer} */
export default {
  key: 'unisocket-pusher',
  protocol: 'pusher',
  description: 'unisocket Pusher transport (protocol 7), service.broadcast(channel, event, data)',
  start: (options) => startUnisocket(options, 'pusher'),
};
