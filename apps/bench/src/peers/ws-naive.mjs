/** Raw `ws`, naive broadcast: serialize the message again for every subscriber. */
import { startRawWsServer } from './raw-ws.mjs';

/** @type {import('./types.mjs').Peer} */
export default {
  key: 'ws-naive',
  protocol: 'ws',
  description: 'raw ws, for (const c of clients) c.send(JSON.stringify(msg))',
  async start(options) {
    const { port, channels, close } = await startRawWsServer(options);
    return {
      port,
      close,
      publish(channel, event, data) {
        const clients = channels.get(channel);
        if (!clients) return;
        const msg = { type: 'message', channel, event, data };
        for (const c of clients) c.send(JSON.stringify(msg));
      },
    };
  },
};
