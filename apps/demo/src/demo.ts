import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type UnifiedWebSocketService,
  type UnifiedWebSocketServiceOptions,
  compilePattern,
  createUnifiedWebSocketService,
  demoAuthFromEnv,
  optionsFromEnv,
} from '@unisocket/server';
import { demoApi } from './demo-api';
import { type KafkaExample, startKafkaExample } from './kafka';
import { type DemoPusherApp, pusherAppFromEnv, pusherAuthEndpoints } from './pusher-auth';
import { pusherChatEndpoint } from './pusher-chat';

/** The demo's channels. */
export const CHAT_CHANNEL = 'chat.lobby';
export const TICKER_CHANNEL = 'ticker';
export { KAFKA_EVENTS_CHANNEL, KAFKA_OUT_CHANNEL } from './kafka';
export { CHAT_HISTORY_MESSAGES, type DemoPageConfig } from './demo-api';
/** The presence room (open to signed-in users when JWT_SECRET is set). */
export const PRESENCE_CHANNEL = 'presence-lobby';
/** How long the demo's tokens live: short, so the refresh flow is visible. */
export const DEMO_TOKEN_TTL_SECONDS = 15 * 60;
/** Where the server publishes a stats sample every second (the live dashboard at `/dashboard` reads it). */
export const STATS_CHANNEL = 'sys.stats';

const isPublic = compilePattern('public');

/** A running demo. */
export interface Demo {
  server: Server;
  service: UnifiedWebSocketService;
  /** The Kafka example (topic → `kafka.events`), when `BROKER=kafka` or `KAFKA_BRIDGE_TOPIC` is set. */
  kafka: KafkaExample | undefined;
  /** The Pusher app (`PUSHER_APP_ID`, `PUSHER_APP_KEY`, `PUSHER_APP_SECRET`) its auth endpoints sign for. */
  pusherApp: DemoPusherApp;
  port: number;
  url: string;
  /** Graceful shutdown: clients get 1001 and reconnect elsewhere; then the HTTP server closes. Idempotent. */
  close(): Promise<void>;
}

/** Options of {@link startDemo}. */
export interface StartDemoOptions {
  /** The environment to read (the variables are listed in the demo's README). @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Overrides `PORT`; `0` picks a free port. */
  port?: number;
  /** Where startup lines go. @default console.log */
  log?: (line: string) => void;
  /** Service options merged over what the environment gives (tests, cluster workers). */
  overrides?: UnifiedWebSocketServiceOptions;
  /** Publish the ticker from this process (a cluster runs it in one worker only). @default true */
  ticker?: boolean;
}

const publicDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'public');
/** The React page, built from web/ into dist/web by the demo's `pnpm build` (esbuild through tsup, tsup.config.ts). */
const webDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'web');
const require = createRequire(import.meta.url);

/**
 * Starts the demo: one HTTP server serving the page at `/` (a React app on @unisocket/react, built into dist/web),
 * the live dashboard at `/dashboard`, native WebSocket at `/ws`, Socket.IO at `/socket.io` (with its browser bundle;
 * the page uses it for `?transport=socketio`) and the HTTP API (`/health`, `/stats`, `/metrics`,
 * `/api/websocket/status`, `POST /broadcast`), and the Pusher protocol on `/app/{key}` (the page uses it with Laravel Echo
 * for `?transport=pusher`, with Echo's auth endpoints `POST /broadcasting/auth` and `/broadcasting/user-auth`, and
 * `POST /demo/say` for its chat sends). Public channels accept client publishes (`sys.*` aside); the server
 * publishes a ticker every second on `ticker` and a stats sample every second on `sys.stats`.
 */
export async function startDemo(options: StartDemoOptions = {}): Promise<Demo> {
  const env = options.env ?? process.env;
  const log = options.log ?? ((line: string) => console.log(line));
  const config = optionsFromEnv(env);
  const production = env.NODE_ENV === 'production';
  const apiKey = config.options.http?.apiKey ?? (production ? undefined : 'demo-key');
  const demoAuth = demoAuthFromEnv(env);
  // the Pusher app (PUSHER_APP_ID/KEY/SECRET): pusher-js and Laravel Echo connect to /app/{key}
  const pusherApp = pusherAppFromEnv(env);
  const serviceOptions: UnifiedWebSocketServiceOptions = {
    // three transports on one hub: native WebSocket on /ws, Socket.IO on /socket.io, Pusher protocol 7 on /app/{key}
    transports: ['native', 'socketio', 'pusher'],
    pusher: { apps: [pusherApp] },
    ...config.options,
    // with JWT_SECRET, signed-in users join presence-lobby and whisper there; CORS_ORIGIN limits origins
    ...demoAuth,
    // the demo lets browsers chat on public channels, except the server's own `sys.*` channels
    permissions: {
      ...demoAuth.permissions,
      publish: (_conn, channel) => isPublic(channel) && !channel.startsWith('sys.'),
    },
    // a stats sample every second on sys.stats for the dashboard; Node.js default metrics for Prometheus/Grafana
    monitoring: { statsChannel: { channel: STATS_CHANNEL, intervalMs: 1000 }, defaultMetrics: true },
    // the operational channels (sys.error-recovery, sys.scheduler, sys.webhook, sys.dlq) feed the dashboard; outside
    // production anyone may watch them, in production nobody (a real app checks a role here)
    operations: { authorize: () => !production },
    ...(apiKey === undefined ? {} : { http: { ...config.options.http, apiKey } }),
    ...options.overrides,
  };
  const jwtSecret = env.JWT_SECRET === '' ? undefined : env.JWT_SECRET;
  // the sign-in stand-in: outside production, anyone may get a token for a name (a real app checks a password)
  const issueTokens = jwtSecret !== undefined && !production;

  // Laravel Echo's POST /broadcasting/auth and /broadcasting/user-auth, signed with the Pusher app's secret
  const pusherAuth = pusherAuthEndpoints(pusherApp, jwtSecret);

  const service = createUnifiedWebSocketService(serviceOptions);
  // POST /demo/say: the chat send of a Pusher page, published as its Pusher connection (no client publish on public
  // channels in the Pusher protocol)
  const pusherChat = pusherChatEndpoint(service, CHAT_CHANNEL);
  // set once the Kafka example started (the server answers only after listen, below)
  let kafka: KafkaExample | undefined;
  const server = createServer((req, res) => {
    pusherAuth(req, res)
      .then((handled) => handled || pusherChat(req, res))
      .then(
        (handled) =>
          handled ||
          demoApi(req, res, {
            service,
            chatChannel: CHAT_CHANNEL,
            page: {
              auth: jwtSecret !== undefined,
              tokens: issueTokens,
              presenceChannel: PRESENCE_CHANNEL,
              pusher: { key: pusherApp.key },
              features: { kafka: kafka !== undefined },
            },
            tokenSecret: issueTokens ? jwtSecret : undefined,
            tokenTtlSeconds: DEMO_TOKEN_TTL_SECONDS,
          }),
      )
      .then((handled) => (handled ? true : serveStatic(req, res)))
      .then(
        (served) => {
          if (!served) service.httpHandler(req, res);
        },
        (error: unknown) => {
          res.statusCode = 500;
          res.end(String(error));
        },
      );
  });
  await service.initialize(server);
  // a recurring broadcast through the job queue (once per tick across all nodes with Redis): its scheduler runs show
  // on the dashboard's operations list
  await service.queue.recurring('demo-clock', { everyMs: 5_000 }, 'clock', 'tick', ({ scheduledFor }) => ({
    at: new Date(scheduledFor).toISOString(),
  }));
  kafka = await startKafkaExample(service, serviceOptions, env, log).catch(async (error: unknown) => {
    await service.shutdown();
    throw error;
  });
  const port = options.port ?? config.port;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actualPort = (server.address() as AddressInfo).port;

  let price = 100;
  const ticker = setInterval(() => {
    price = Math.max(1, price + (Math.random() - 0.5) * 2);
    service
      .broadcast(TICKER_CHANNEL, 'tick', { symbol: 'UNI', price: Math.round(price * 100) / 100, ts: Date.now() })
      .catch((error: unknown) => log(`ticker publish failed: ${String(error)}`));
  }, 1000);
  ticker.unref();
  if (options.ticker === false) clearInterval(ticker);

  const url = `http://localhost:${actualPort}`;
  log(
    `unisocket demo on ${url} (dashboard ${url}/dashboard, node ${service.nodeId}, broker ${service.broker.kind}, WebSocket ${url.replace('http', 'ws')}${serviceOptions.path ?? '/ws'}, Socket.IO ${url}${serviceOptions.socketio?.path ?? '/socket.io'})`,
  );
  log(
    jwtSecret === undefined
      ? 'auth: off (set JWT_SECRET to enable JWT auth and the presence room)'
      : `auth: JWT (HS256); ${PRESENCE_CHANNEL} open to signed-in users${issueTokens ? '; GET /demo/token?name=… issues tokens (not in production)' : ''}`,
  );
  if (Object.keys(config.used).length > 0) log(`environment: ${JSON.stringify(config.used)}`);

  let closing: Promise<void> | undefined;
  return {
    server,
    service,
    kafka,
    pusherApp,
    port: actualPort,
    url,
    close() {
      closing ??= (async () => {
        clearInterval(ticker);
        await kafka?.close();
        await service.shutdown();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      })();
      return closing;
    },
  };
}

const STATIC: Record<string, [file: string, type: string]> = {
  '/style.css': ['style.css', 'text/css; charset=utf-8'],
  '/dashboard': ['dashboard.html', 'text/html; charset=utf-8'],
  '/dashboard.js': ['dashboard.js', 'text/javascript; charset=utf-8'],
  '/dashboard.css': ['dashboard.css', 'text/css; charset=utf-8'],
};

const ASSET_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

async function serveStatic(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const path = (req.url ?? '/').split('?')[0]!;
  if (path === '/unisocket.js') {
    let file: string;
    try {
      file = require.resolve('@unisocket/client/browser');
    } catch {
      res.writeHead(503, { 'Content-Type': 'text/javascript' });
      res.end('throw new Error("the browser build of @unisocket/client is missing: run pnpm build");');
      return true;
    }
    res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-cache' });
    res.end(await readFile(file));
    return true;
  }
  if (path === '/' || path === '/index.html') {
    let html: Buffer;
    try {
      html = await readFile(join(webDir, 'index.html'));
    } catch {
      res.writeHead(503, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(
        '<!doctype html><title>unisocket demo</title><p>The page is not built: run <code>pnpm build</code> (or <code>pnpm start</code>) at the repository root.</p>',
      );
      return true;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-cache' });
    res.end(html);
    return true;
  }
  const asset = /^\/assets\/([\w.-]+)$/.exec(path)?.[1];
  if (asset !== undefined) {
    const type = ASSET_TYPES[asset.slice(asset.lastIndexOf('.'))];
    if (type === undefined || asset.startsWith('.')) return false;
    let body: Buffer;
    try {
      body = await readFile(join(webDir, 'assets', asset));
    } catch {
      return false;
    }
    // the build puts a content hash in every asset name
    res.writeHead(200, { 'Content-Type': type, 'Cache-Control': 'public, max-age=31536000, immutable' });
    res.end(body);
    return true;
  }
  const entry = STATIC[path];
  if (entry === undefined) return false;
  res.writeHead(200, { 'Content-Type': entry[1], 'Cache-Control': 'no-cache' });
  res.end(await readFile(join(publicDir, entry[0])));
  return true;
}
