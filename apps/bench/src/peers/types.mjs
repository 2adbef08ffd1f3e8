/**
 * The contract every peer (system under test) implements. A peer is one module under src/peers/ whose default
 * export is a {@link Peer}, plus one line in src/peers/index.mjs.
 *
 * The harness owns everything else: the publish loops (burst for W1, fixed rate for W2), the payload, the
 * clients, the measurement. A peer only says how to start its server and how to broadcast one message.
 */

/**
 * @typedef {'ws' | 'socketio' | 'pusher'} ClientProtocol
 * Which load-generator client speaks to the peer:
 * - `ws`: the `ws` library; on open the client sends `{"type":"subscribe","channel":…,"ref":1}` and waits for a
 *   line with `"type":"ack"`; the server's text frames may hold several JSON objects separated by `\n`;
 *   a message is any line whose object has `data.seq`/`data.t` (the unisocket `message` envelope qualifies).
 * - `socketio`: `socket.io-client` with `transports: ['websocket']`; on connect the client emits
 *   `subscribe` with `{ channel }` and an ack callback; a message is any event whose argument is the payload
 *   (`{seq,t,…}`) or an envelope with it under `data` (the unisocket `message` event qualifies).
 * - `pusher`: the `ws` library speaking the Pusher protocol 7 (not pusher-js: too heavy for thousands of sockets
 *   in one load generator); the peer's `path` is `/app/{key}?protocol=7`. The client waits for
 *   `pusher:connection_established`, sends `{"event":"pusher:subscribe","data":{"channel":…}}` and waits for
 *   `pusher_internal:subscription_succeeded`; every server frame is one event `{"event","channel","data"}` whose
 *   `data` is the payload as a JSON string; a message is an event whose data holds `seq`. It answers `pusher:ping`.
 */

/**
 * @typedef {object} PeerServer
 * @property {number} port the port the server listens on (the harness asks for port 0)
 * @property {string} [path] where clients connect: the WebSocket URL path for `ws` peers (default `/`),
 *   Socket.IO's `path` option for `socketio` peers (default `/socket.io`); unisocket-native uses `/ws`, `pusher`
 *   peers give the path with the query (`/app/{key}?protocol=7`)
 * @property {(channel: string, event: string, data: import('../payload.mjs').BenchData) => void} publish
 *   broadcast one message to every subscriber of `channel`; called by the harness's publish loop on the hot path
 * @property {() => Promise<void>} close
 * @property {() => Record<string, unknown>} [stats] W6: the peer's own counters (unisocket: `hub.recoveryStats()`)
 */

/**
 * @typedef {object} PeerStartOptions
 * @property {string} host interface to listen on (127.0.0.1)
 * @property {number} port 0: pick a free port
 * @property {BenchBroker} [broker] W4, W6, W3b: the backend that connects this server process to the others of the run
 *   (absent: a single process, the peer's default)
 * @property {boolean} [recovery] W6: configure what the peer offers for clients that lose their node and come back on
 *   another (unisocket: history per channel; Socket.IO: connection state recovery where its adapter supports it)
 * @property {boolean} [clusterWorker] W3b: this process is one `node:cluster` worker of several sharing the port
 *   (Socket.IO then uses `@socket.io/cluster-adapter`; unisocket its Redis broker)
 */

/**
 * @typedef {{ type: 'redis', url: string, prefix: string } | { type: 'kafka', brokers: string[], topic: string }} BenchBroker
 * What a W4 run gives each of its two server processes: the same Redis (with a key prefix unique to the run) or
 * the same Kafka topic (unique to the run), so runs never see each other's history or messages.
 */

/**
 * @typedef {object} Peer
 * @property {string} key registry key, e.g. `ws-naive`
 * @property {ClientProtocol} protocol
 * @property {string} description one line for the report
 * @property {(options: PeerStartOptions) => Promise<PeerServer>} start runs inside the server process
 * @property {Array<BenchBroker['type']>} [crossNode] the backends this peer can run on across server processes (W4
 *   runs only the peers that list one; absent: none, the peer is single-process)
 * @property {boolean} [storm] W6 runs this peer (it runs on Redis across server processes, see `recovery`)
 * @property {boolean} [cluster] W3b runs this peer over `node:cluster` workers (see `clusterWorker`)
 * @property {string[]} [only] the workloads this peer runs in (absent: every workload it supports); a peer made for
 *   one workload (socketio-streams: W6) says so, so the default `pnpm bench` does not run it everywhere
 */

export {};
