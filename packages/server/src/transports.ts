import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { Broker, type AdmissionCheck, type Hub } from '@unisocket/core';
import { PusherTransport, type ResolvedPusherOptions, resolvePusherOptions } from '@unisocket/transport-pusher';
import type { SocketIoTransportOptions } from '@unisocket/transport-socketio';
import { NativeTransport } from '@unisocket/transport-ws';
import { importOptional } from './optional';
import type { TransportName, UnifiedWebSocketServiceOptions } from './options';
import type { SocketIoServerOptionsLike } from './socketio-types';

/** The HTTP or HTTPS server a service attaches to. */
export type AnyHttpServer = HttpServer | HttpsServer;

/**
 * What the service needs of a transport (`NativeTransport` and `SocketIoTransport` fit it as they are): it takes
 * upgrades on its own paths of a server the service does not own, stops taking them, and drops what is left.
 */
export interface ServerTransport {
  /** The transport's name, as in `transports` and `Connection.transport`. */
  readonly name: string;
  /** Its open connections. */
  readonly size: number;
  /** `true` for a request URL (or path) it serves; the upgrade guard answers 404 for upgrades no transport serves. */
  handles(url: string | undefined): boolean;
  /** Starts serving on `server` (its `upgrade` event, on its paths). */
  attach(server: AnyHttpServer): void | Promise<void>;
  /** Stops accepting connections; open ones are closed by the Hub. */
  close(): void;
  /** Drops every connection at once (after a graceful close timed out). */
  terminateAll(): void;
  /** Releases what `attach` took (listeners, clients of its own), when it took more than its upgrade listener. */
  dispose?(): Promise<void>;
}

/** What a transport is created with. */
export interface TransportContext {
  hub: Hub;
  /** One admission function for every transport: the same limits and authentication wherever a client connects. */
  admit: AdmissionCheck;
  onError(error: Error): void;
}

/**
 * One transport the service can run: how its options are validated (once, at construction, whether or not it is
 * selected), and how it is created once the Hub runs.
 */
export interface ServerTransportFactory<Settings = unknown> {
  readonly name: TransportName;
  /**
   * Validates this transport's options, throwing a `TypeError` that says what to change; returns its settings when
   * it is selected. `path` is the path it serves (selected transports must serve different paths).
   */
  resolve(options: UnifiedWebSocketServiceOptions, selected: boolean): (Settings & { path: string }) | undefined;
  create(settings: Settings, context: TransportContext): Promise<ServerTransport>;
}

interface NativeSettings {
  path: string;
}

const nativeFactory: ServerTransportFactory<NativeSettings> = {
  name: 'native',
  resolve(options, selected) {
    if (options.path !== undefined && (typeof options.path !== 'string' || !options.path.startsWith('/'))) {
      throw new TypeError(`path must start with "/", got ${JSON.stringify(options.path)}`);
    }
    return selected ? { path: options.path ?? '/ws' } : undefined;
  },
  async create(settings, context) {
    return new NativeTransport(context.hub, { path: settings.path, admit: context.admit });
  },
};

const SOCKETIO_KEYS = ['path', 'serverOptions', 'redisAdapter'] as const;

type SocketIoSettings = Pick<SocketIoTransportOptions, 'redisAdapter'> & {
  serverOptions?: SocketIoServerOptionsLike;
  path: string;
  pathGiven: boolean;
};

const socketIoFactory: ServerTransportFactory<SocketIoSettings> = {
  name: 'socketio',
  resolve(options, selected) {
    const socketio = options.socketio;
    if (socketio === undefined)
      return selected ? { path: '/socket.io', pathGiven: false, ...socketIoRedisAdapter(options) } : undefined;
    if (typeof socketio !== 'object' || socketio === null) throw new TypeError('socketio must be an object');
    if (!selected) {
      throw new TypeError(
        `socketio options are set but the transports are ${JSON.stringify(options.transports ?? [options.adapter ?? 'native'])}: add 'socketio' to transports (or remove the socketio options)`,
      );
    }
    for (const key of Object.keys(socketio)) {
      if (!(SOCKETIO_KEYS as readonly string[]).includes(key)) {
        throw new TypeError(`unknown option socketio.${key}; known options: ${SOCKETIO_KEYS.join(', ')}`);
      }
    }
    if (socketio.path !== undefined && (typeof socketio.path !== 'string' || !socketio.path.startsWith('/'))) {
      throw new TypeError(`socketio.path must start with "/", got ${JSON.stringify(socketio.path)}`);
    }
    return {
      path: socketio.path ?? '/socket.io',
      pathGiven: socketio.path !== undefined,
      ...(socketio.serverOptions === undefined ? {} : { serverOptions: socketio.serverOptions }),
      ...socketIoRedisAdapter(options),
    };
  },
  async create(settings, context) {
    const { SocketIoTransport } = await importOptional<typeof import('@unisocket/transport-socketio')>(
      () => import('@unisocket/transport-socketio'),
      '@unisocket/transport-socketio',
      "transports: ['socketio']",
    );
    return new SocketIoTransport(context.hub, {
      ...(settings.pathGiven ? { path: settings.path } : {}),
      // the transport validates them (refusing `perMessageDeflate`, `connectionStateRecovery`, a differing `path`)
      ...(settings.serverOptions === undefined
        ? {}
        : { serverOptions: settings.serverOptions as NonNullable<SocketIoTransportOptions['serverOptions']> }),
      ...(settings.redisAdapter === undefined ? {} : { redisAdapter: settings.redisAdapter }),
      admit: context.admit,
      onError: context.onError,
    });
  },
};

/**
 * The Redis adapter of `service.io`: `socketio.redisAdapter` when given (`false`: none), else the Redis broker's URL
 * (with `<keyPrefix>socket.io` as the channel prefix), so the application's own Socket.IO calls cross nodes the way
 * unisocket's channels do.
 */
function socketIoRedisAdapter(options: UnifiedWebSocketServiceOptions): Pick<SocketIoTransportOptions, 'redisAdapter'> {
  const given = options.socketio?.redisAdapter;
  if (given === false) return {};
  if (given !== undefined) return { redisAdapter: given };
  const broker = options.broker;
  if (broker === undefined || broker instanceof Broker || broker.type !== 'redis' || broker.redis !== undefined)
    return {};
  const keyPrefix = typeof broker.keyPrefix === 'string' ? broker.keyPrefix : 'unisocket:';
  return { redisAdapter: { url: broker.url ?? 'redis://127.0.0.1:6379', channelPrefix: `${keyPrefix}socket.io` } };
}

interface PusherSettings {
  path: string;
  pusher: ResolvedPusherOptions;
}

const pusherFactory: ServerTransportFactory<PusherSettings> = {
  name: 'pusher',
  resolve(options, selected) {
    if (options.pusher === undefined) {
      if (selected) throw new TypeError("transports include 'pusher': set pusher: { apps: [{ id, key, secret }] }");
      return undefined;
    }
    if (!selected) {
      throw new TypeError(
        `pusher options are set but the transports are ${JSON.stringify(options.transports ?? [options.adapter ?? 'native'])}: add 'pusher' to transports (or remove the pusher options)`,
      );
    }
    const pusher = resolvePusherOptions(options.pusher);
    return { path: pusher.path, pusher };
  },
  async create(settings, context) {
    return new PusherTransport(context.hub, { pusher: settings.pusher, admit: context.admit });
  },
};

/**
 * The transports a service can run, in the order they attach (Socket.IO first: it wraps the server's `request`
 * listeners present at attach time). A further transport is one more entry.
 */
export const TRANSPORT_FACTORIES: readonly ServerTransportFactory[] = [
  socketIoFactory as ServerTransportFactory,
  nativeFactory as ServerTransportFactory,
  pusherFactory as ServerTransportFactory,
];

/** The names of {@link TRANSPORT_FACTORIES}, alphabetically (for messages). */
export const TRANSPORT_NAMES: readonly TransportName[] = TRANSPORT_FACTORIES.map((f) => f.name).sort();

/** A selected transport's factory and settings. */
export interface TransportPlan {
  factory: ServerTransportFactory;
  settings: unknown;
}

/** Resolves the settings of each selected transport; selected transports must serve different paths. */
export function resolveTransportPlans(
  options: UnifiedWebSocketServiceOptions,
  selected: readonly TransportName[],
): TransportPlan[] {
  const plans: TransportPlan[] = [];
  const paths = new Map<string, TransportName>();
  for (const factory of TRANSPORT_FACTORIES) {
    const settings = factory.resolve(options, selected.includes(factory.name));
    if (settings === undefined) continue;
    const path = trimSlash(settings.path);
    const other = paths.get(path);
    if (other !== undefined) {
      throw new TypeError(
        `the ${other} and ${factory.name} transports both serve ${JSON.stringify(path)}: they need different paths (path, socketio.path, pusher.path)`,
      );
    }
    paths.set(path, factory.name);
    plans.push({ factory, settings });
  }
  return plans;
}

function trimSlash(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}
