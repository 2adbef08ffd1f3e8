/**
 * Shared plumbing of the raw `ws` peers: a plain `node:http` server with a `ws` WebSocketServer and a
 * channel → subscribers map. The peers differ only in how they broadcast (see ws-naive.mjs, ws-once.mjs).
 *
 * Any text message `{"type":"subscribe","channel":…}` joins that channel and is answered with
 * `{"type":"ack","ref":…,"channel":…}`, which is what the `ws` bench client waits for.
 */
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

/**
 * @param {import('./types.mjs').PeerStartOptions} options
 * @returns {Promise<{ port: number, channels: Map<string, Set<import('ws').WebSocket>>, close: () => Promise<void> }>}
 */
export async function startRawWsServer({ host, port }) {
  /** @type {Map<string, Set<import('ws').WebSocket>>} */
  const channels = new Map();
  const http = createServer((_req, res) => {
    res.writeHead(404).end();
  });
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
  wss.on('connection', (ws) => {
    /** @type {Set<import('ws').WebSocket>[]} */
    const joined = [];
    ws.on('message', (raw, isBinary) => {
      if (isBinary) return;
      /** @type {any} */
      let cmd;
      try {
        cmd = JSON.parse(raw.toString());
      } catch {
        return;
      }
      if (cmd?.type === 'subscribe' && typeof cmd.channel === 'string') {
        let subs = channels.get(cmd.channel);
        if (!subs) channels.set(cmd.channel, (subs = new Set()));
        subs.add(ws);
        joined.push(subs);
        ws.send(JSON.stringify({ type: 'ack', ref: cmd.ref ?? null, channel: cmd.channel }));
      } else if (cmd?.type === 'ping') {
        ws.send('{"type":"pong"}');
      }
    });
    ws.on('close', () => {
      for (const subs of joined) subs.delete(ws);
    });
  });
  await new Promise((resolve, reject) => {
    http.once('error', reject);
    http.listen({ host, port, backlog: 4096 }, () => resolve(undefined));
  });
  const address = http.address();
  if (!address || typeof address === 'string') throw new Error('unexpected server address');
  return {
    port: address.port,
    channels,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise((resolve) => wss.close(() => resolve(undefined)));
      await new Promise((resolve) => http.close(() => resolve(undefined)));
    },
  };
}
