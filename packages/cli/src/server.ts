import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type BrokerConfig,
  type UnifiedWebSocketService,
  type UnifiedWebSocketServiceOptions,
  createUnifiedWebSocketService,
} from '@unisocket/server';
import { maskUrl } from './config';

/** What {@link startServer} needs: the service's options and where to listen. A {@link LoadedConfig} fits. */
export interface StartServerOptions {
  /** The options for `createUnifiedWebSocketService`. */
  options: UnifiedWebSocketServiceOptions;
  /** The HTTP port; 0 picks a free one. @default 3000 */
  port?: number;
  /** The interface to listen on. @default '0.0.0.0' */
  host?: string;
}

/** A running standalone server. */
export interface RunningServer {
  readonly service: UnifiedWebSocketService;
  readonly server: Server;
  /** The options the service was created with. */
  readonly options: UnifiedWebSocketServiceOptions;
  /** The port it listens on (the real one when 0 was asked). */
  readonly port: number;
  readonly host: string;
  /** `http://host:port`. */
  readonly url: string;
  /**
   * Stops gracefully: `service.shutdown()` (clients get close 1001 and reconnect elsewhere, the broker closes),
   * then the HTTP server closes (idle keep-alive sockets are dropped after 1 s). Idempotent.
   */
  close(): Promise<void>;
}

/**
 * Starts unisocket as a server of its own: an HTTP server whose only handler is `service.httpHandler` (`/health`,
 * `/stats`, `/metrics`, `/api/websocket/status`, `POST /broadcast`, `/queue…`; 404 for anything else) with the
 * configured transports attached, listening on `host:port`. No page is served.
 *
 * @example
 * ```ts
 * const running = await startServer({ options: { broker: { type: 'redis', url: 'redis://127.0.0.1:6379' } }, port: 0 });
 * console.log(describeServer(running));
 * await running.close();
 * ```
 * @throws {TypeError} for options the service refuses; the listen error (e.g. `EADDRINUSE`) when the port is taken
 */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const host = options.host ?? '0.0.0.0';
  const service = createUnifiedWebSocketService(options.options);
  const server = createServer((req, res) => service.httpHandler(req, res));
  await service.initialize(server);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 3000, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await service.shutdown().catch(() => {});
    throw error;
  }
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    service,
    server,
    options: options.options,
    port,
    host,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () => {
      closing ??= (async () => {
        await service.shutdown();
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            server.closeAllConnections();
            resolve();
          }, 1000);
          timer.unref();
          server.close(() => {
            clearTimeout(timer);
            resolve();
          });
          server.closeIdleConnections();
        });
      })();
      return closing;
    },
  };
}

/** `redis (redis://127.0.0.1:6379)`, `kafka (a:9092,b:9092)`, `memory`: the broker of some options, credentials masked. */
export function describeBroker(options: UnifiedWebSocketServiceOptions): string {
  const broker = (options.broker ?? { type: 'memory' }) as BrokerConfig;
  if (broker.type === 'redis') return `redis (${maskUrl(String(broker.url ?? 'redis://127.0.0.1:6379'))})`;
  if (broker.type === 'kafka') return `kafka (${(broker.brokers ?? []).join(',')})`;
  return broker.type ?? 'memory';
}

/** The transports some options run. */
export function transportsOf(options: UnifiedWebSocketServiceOptions): string[] {
  return options.transports ?? (options.adapter === undefined ? ['native'] : [options.adapter]);
}

/**
 * The startup line: `unisocket listening on http://host:port — transports native, pusher — broker redis
 * (redis://…) — node <id>`.
 */
export function describeServer(running: RunningServer): string {
  const o = running.options;
  return `unisocket listening on ${running.url} — transports ${transportsOf(o).join(', ')} — broker ${describeBroker(o)} — node ${running.service.nodeId}`;
}
