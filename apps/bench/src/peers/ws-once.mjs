/** Raw `ws`, serialize once: one JSON.stringify per publish, the same string sent to every subscriber. */
import { startRawWsServer } from './raw-ws.mjs';

/** @type {import('./types.mjs').Peer} */
export default {
  key: 'ws-once',
  protocol: 'ws',
  description: 'raw ws, const s = JSON.stringify(msg); for (const c of clients) c.send(s)',
  async start(options) {
    const { port, channels, close } = await startRawWsServer(options);
    return {
      port,
      close,
      publish(channel, event, data) {
        const clients = channels.get(channel);
        if (!clients) return;
        const s = JSON.stringify({ type: 'message', channel, event, data });
        for (const c of clients) c.send(s);
      },
    };
  },
};
