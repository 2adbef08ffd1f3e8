import { ErrorCode, type Hub } from '@unisocket/core';
import { round, summarizeLatency } from './latency';
import { assertSourceFunction, readOperations } from './operations';
import {
  type HubSource,
  type LatencySummary,
  type OperationsSource,
  type ServiceStats,
  type TransportStats,
  resolveHub,
} from './types';

/** Options of {@link StatisticsCollector}. */
export interface StatisticsCollectorOptions {
  /** The Hub to read, or a function returning it once it exists. */
  hub: HubSource;
  /**
   * When the service started (epoch ms).
   * @default the collector's creation time
   */
  startTime?: number;
  /**
   * Transports reported even with no connection yet (so their series start at 0).
   * @default ['native']
   */
  transports?: readonly string[];
  /**
   * The service's operations (circuit breakers, webhooks, job queues), read synchronously by `getStats()`: it adds
   * `breakers`, `webhooks` and `queues` to the stats.
   */
  operations?: OperationsSource;
}

/** Drop reasons the Hub and broker count; more come from {@link StatisticsCollector.recordDrop}. */
export const DROP_REASONS = [
  'slow_consumer',
  'publish_refused',
  'gap_lost',
  'duplicate',
  'drop_oldest',
  'coalesced',
  'shed',
] as const;

/** A compact snapshot with per-second rates, as published on a stats channel (`sys.stats`). */
export interface StatsSample {
  /** When it was taken (epoch ms). */
  ts: number;
  nodeId: string;
  connections: number;
  users: number;
  channels: number;
  subscriptions: number;
  /** Totals since start. */
  totals: { published: number; deliveries: number; commandsIn: number; bytesOut: number; dropped: number };
  /** Per second since the previous sample. */
  rates: { published: number; deliveries: number; commandsIn: number; bytesOut: number; dropped: number };
  latency: LatencySummary;
  memory: { heapUsed: number; rss: number };
}

/**
 * Service statistics read from the Hub's counters at read time. The hot path only increments fields on the Hub and
 * its connections; this class sums them (per transport, over live connections plus those that closed) when asked.
 * It also keeps the few counters that live outside the Hub: drops recorded by event sources and other producers,
 * and HTTP requests by endpoint.
 */
export class StatisticsCollector {
  readonly startTime: number;
  readonly #hub: HubSource;
  readonly #transports: readonly string[];
  readonly #operations: OperationsSource | undefined;
  readonly #drops = new Map<string, number>();
  readonly #http = new Map<string, number>();
  readonly #refusedUpgrades = new Map<string, number>();
  #previous: { ts: number; totals: StatsSample['totals'] } | undefined;

  constructor(options: StatisticsCollectorOptions) {
    if (options === undefined || options.hub === undefined) {
      throw new TypeError('StatisticsCollector needs { hub }: a Hub or a function returning it');
    }
    this.#hub = options.hub;
    this.startTime = options.startTime ?? Date.now();
    this.#transports = options.transports ?? ['native'];
    assertSourceFunction('operations', options.operations, '{ breakers, webhooks?, queues? }');
    this.#operations = options.operations;
  }

  /** The Hub, once it exists. */
  get hub(): Hub | undefined {
    return resolveHub(this.#hub);
  }

  /** Counts messages dropped outside the Hub (e.g. `event_source` when an emitter event could not be published). */
  recordDrop(reason: string, count = 1): void {
    this.#drops.set(reason, (this.#drops.get(reason) ?? 0) + count);
  }

  /** Counts one HTTP API request (`endpoint` is the route name: health, stats, metrics, status, broadcast). */
  recordHttpRequest(endpoint: string, status: number): void {
    const key = `${endpoint} ${status}`;
    this.#http.set(key, (this.#http.get(key) ?? 0) + 1);
  }

  /** Counts one upgrade refused before the WebSocket existed (`reason`: origin, unauthorized, overloaded, per_ip). */
  recordRefusedUpgrade(reason: string): void {
    this.#refusedUpgrades.set(reason, (this.#refusedUpgrades.get(reason) ?? 0) + 1);
  }

  /** Upgrades refused by reason since start (every known reason present, 0 when none). */
  refusedUpgrades(): Record<string, number> {
    const out: Record<string, number> = { origin: 0, unauthorized: 0, overloaded: 0, per_ip: 0 };
    for (const [reason, n] of this.#refusedUpgrades) out[reason] = n;
    return out;
  }

  /** HTTP API requests by endpoint and status. */
  httpRequests(): { endpoint: string; status: string; count: number }[] {
    const out: { endpoint: string; status: string; count: number }[] = [];
    for (const [key, count] of this.#http) {
      const [endpoint, status] = key.split(' ') as [string, string];
      out.push({ endpoint, status, count });
    }
    return out;
  }

  /** Drops by reason since start (every known reason present, 0 when none). */
  drops(): Record<string, number> {
    const hub = this.hub;
    const out: Record<string, number> = {};
    for (const reason of DROP_REASONS) out[reason] = 0;
    if (hub !== undefined) {
      const b = hub.broker.stats;
      out.slow_consumer = hub.stats.slowConsumers;
      out.publish_refused = b.refusedPublishes;
      out.gap_lost = b.gapsLost;
      out.duplicate = b.duplicates;
      // the backpressure policies and memory shedding (one per line not delivered to a connection)
      out.drop_oldest = hub.stats.drops['drop-oldest'];
      out.coalesced = hub.stats.drops['coalesce-latest'];
      out.shed = hub.stats.drops.shed;
    }
    for (const [reason, n] of this.#drops) out[reason] = (out[reason] ?? 0) + n;
    return out;
  }

  /** Errors sent to clients by code (every code present, 0 when none). */
  errors(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const code of Object.values(ErrorCode)) out[code] = 0;
    const hub = this.hub;
    if (hub !== undefined) for (const [code, n] of Object.entries(hub.stats.errors)) out[code] = (out[code] ?? 0) + n;
    return out;
  }

  /** Per-transport counters: live connections plus those that have closed. One pass over the connections. */
  transports(): Record<string, TransportStats> {
    const out: Record<string, TransportStats> = {};
    for (const t of this.#transports) out[t] = { connections: 0, deliveries: 0, bytesOut: 0, commandsIn: 0 };
    const hub = this.hub;
    if (hub === undefined) return out;
    for (const [t, closed] of Object.entries(hub.stats.closedByTransport)) {
      const s = (out[t] ??= { connections: 0, deliveries: 0, bytesOut: 0, commandsIn: 0 });
      s.deliveries += closed.delivered;
      s.bytesOut += closed.bytesOut;
      s.commandsIn += closed.commandsIn;
    }
    for (const conn of hub.connections()) {
      const s = (out[conn.transport] ??= { connections: 0, deliveries: 0, bytesOut: 0, commandsIn: 0 });
      s.connections++;
      s.deliveries += conn.delivered;
      s.bytesOut += conn.bytesOut;
      s.commandsIn += conn.commandsIn;
    }
    return out;
  }

  /** Publish→flush latency over the recent window. */
  latency(): LatencySummary {
    return summarizeLatency(this.hub?.latency);
  }

  /**
   * The operations fields of `ServiceStats` (`breakers`, `webhooks`, `queues`), empty without an `operations` source
   * or when it fails (stats never fail because of it; health reports the failure).
   */
  operations(): Pick<ServiceStats, 'breakers' | 'webhooks' | 'queues'> {
    if (this.#operations === undefined) return {};
    const read = readOperations(this.#operations);
    if (!read.ok) return {};
    return {
      breakers: read.breakers,
      ...(read.webhooks === undefined ? {} : { webhooks: read.webhooks }),
      ...(read.queues === undefined ? {} : { queues: read.queues }),
    };
  }

  /** Service statistics (`ServiceStats`). */
  getStats(): ServiceStats {
    const hub = this.hub;
    const now = Date.now();
    const heapUsed = process.memoryUsage().heapUsed;
    const drops = this.drops();
    const latency = this.latency();
    const dropped = sumExcept(drops, 'duplicate');
    if (hub === undefined) {
      return {
        totalConnections: 0,
        activeConnections: 0,
        totalMessages: 0,
        totalBroadcasts: 0,
        deliveries: 0,
        bytesOut: 0,
        droppedMessages: dropped,
        duplicateMessages: 0,
        queueOverflows: 0,
        reconnections: 0,
        recovered: 0,
        startTime: this.startTime,
        lastActivity: this.startTime,
        peakConnections: 0,
        uptime: now - this.startTime,
        memoryUsage: heapUsed,
        uniqueUsers: 0,
        channels: 0,
        subscriptions: 0,
        averageLatency: latency.averageMs,
        latency,
        drops,
        errors: this.errors(),
        ...this.operations(),
      };
    }
    const s = hub.stats;
    const b = hub.broker.stats;
    let deliveries = s.closedDelivered;
    let bytesOut = s.closedBytesOut;
    let commandsIn = s.closedCommandsIn;
    let lastActivity = Math.max(this.startTime, s.lastPublishAt, s.lastDisconnectAt);
    for (const conn of hub.connections()) {
      deliveries += conn.delivered;
      bytesOut += conn.bytesOut;
      commandsIn += conn.commandsIn;
      // refilledAt is the time of the connection's last command (the rate limiter's clock)
      if (conn.refilledAt > lastActivity) lastActivity = conn.refilledAt;
    }
    return {
      totalConnections: s.connectionsTotal,
      activeConnections: hub.connectionCount,
      totalMessages: commandsIn + s.published,
      totalBroadcasts: s.published,
      deliveries,
      bytesOut,
      droppedMessages: dropped,
      duplicateMessages: b.duplicates,
      queueOverflows: s.slowConsumers + b.refusedPublishes,
      reconnections: s.recovered + s.notRecovered,
      recovered: s.recovered,
      startTime: this.startTime,
      lastActivity,
      peakConnections: s.connectionsPeak,
      uptime: now - this.startTime,
      memoryUsage: heapUsed,
      uniqueUsers: hub.userCount,
      channels: hub.channelCount,
      subscriptions: hub.subscriptionCount,
      averageLatency: latency.averageMs,
      latency,
      drops,
      errors: this.errors(),
      ...this.operations(),
    };
  }

  /**
   * A compact snapshot with rates per second since the previous call (the first call's rates are since start).
   * Meant for one periodic consumer, such as the stats channel publisher.
   */
  sample(): StatsSample {
    const stats = this.getStats();
    const hub = this.hub;
    const ts = Date.now();
    const mem = process.memoryUsage();
    const commandsIn = stats.totalMessages - stats.totalBroadcasts;
    const totals = {
      published: stats.totalBroadcasts,
      deliveries: stats.deliveries,
      commandsIn,
      bytesOut: stats.bytesOut,
      dropped: stats.droppedMessages,
    };
    const prev = this.#previous ?? {
      ts: this.startTime,
      totals: { published: 0, deliveries: 0, commandsIn: 0, bytesOut: 0, dropped: 0 },
    };
    const seconds = Math.max(0.001, (ts - prev.ts) / 1000);
    const rate = (k: keyof StatsSample['totals']): number =>
      round(Math.max(0, totals[k] - prev.totals[k]) / seconds, 2);
    this.#previous = { ts, totals };
    return {
      ts,
      nodeId: hub?.nodeId ?? '',
      connections: stats.activeConnections,
      users: stats.uniqueUsers,
      channels: stats.channels,
      subscriptions: stats.subscriptions,
      totals,
      rates: {
        published: rate('published'),
        deliveries: rate('deliveries'),
        commandsIn: rate('commandsIn'),
        bytesOut: rate('bytesOut'),
        dropped: rate('dropped'),
      },
      latency: stats.latency,
      memory: { heapUsed: mem.heapUsed, rss: mem.rss },
    };
  }
}

function sumExcept(record: Record<string, number>, except: string): number {
  let n = 0;
  for (const [k, v] of Object.entries(record)) if (k !== except) n += v;
  return n;
}
