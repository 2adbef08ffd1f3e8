import { type ChannelName, type Hub, type UserId, isPromiseLike, isValidChannelName } from '@unisocket/core';

/** One subscriber of a channel on this node. */
export interface ChannelSubscriber {
  connectionId: string;
  userId: UserId | null;
  transport: string;
}

/** The answer of `GET /api/websocket/status`. */
export interface WebSocketDiagnostics {
  status: 'operational' | 'unavailable';
  nodeId: string;
  connectedClients: number;
  /** Subscribers per channel on this node. */
  subscriptions: Record<string, number>;
  /** Each client's channels (at most 1,000 clients). */
  clientDetails: Record<string, string[]>;
  /** `true` when there are more clients than `clientDetails` lists. */
  truncated: boolean;
  timestamp: string;
}

const MAX_DIAGNOSTIC_CLIENTS = 1_000;

/** The subscribers of a channel on this node. */
export function channelSubscribers(hub: Hub | undefined, channel: ChannelName): ChannelSubscriber[] {
  return (hub?.channelSubscribers(channel) ?? []).map((conn) => ({
    connectionId: conn.id,
    userId: conn.userId,
    transport: conn.transport,
  }));
}

/** Connected clients, subscribers per channel and each client's channels (the first 1,000 clients). */
export function collectDiagnostics(hub: Hub | undefined, nodeId: string): WebSocketDiagnostics {
  const subscriptions: Record<string, number> = {};
  const clientDetails: Record<string, string[]> = {};
  let truncated = false;
  if (hub !== undefined) {
    for (const [channel, count] of hub.channelSubscriberCounts()) subscriptions[channel] = count;
    let n = 0;
    for (const conn of hub.connections()) {
      if (n++ >= MAX_DIAGNOSTIC_CLIENTS) {
        truncated = true;
        break;
      }
      clientDetails[conn.id] = conn.channels;
    }
  }
  return {
    status: hub === undefined || hub.closed ? 'unavailable' : 'operational',
    nodeId,
    connectedClients: hub?.connectionCount ?? 0,
    subscriptions,
    clientDetails,
    truncated,
    timestamp: new Date().toISOString(),
  };
}

/** Where and how often the stats snapshot is published (`monitoring.statsChannel`). */
export interface StatsChannel {
  channel: string;
  intervalMs: number;
}

/** Validates `monitoring.statsChannel`; `undefined` when it is off. */
export function resolveStatsChannel(
  option: boolean | { channel?: string; intervalMs?: number } | undefined,
): StatsChannel | undefined {
  if (option === undefined || option === false) return undefined;
  const given = option === true ? {} : option;
  if (typeof given !== 'object' || given === null) {
    throw new TypeError('monitoring.statsChannel must be true, false or { channel?, intervalMs? }');
  }
  const channel = given.channel ?? 'sys.stats';
  if (!isValidChannelName(channel)) {
    throw new TypeError(
      `monitoring.statsChannel.channel must be a channel name ([A-Za-z0-9_.:=@-]), got ${JSON.stringify(channel)}`,
    );
  }
  const intervalMs = given.intervalMs ?? 1_000;
  if (!Number.isInteger(intervalMs) || intervalMs < 100) {
    throw new TypeError(
      `monitoring.statsChannel.intervalMs must be an integer >= 100, got ${String(given.intervalMs)}`,
    );
  }
  return { channel, intervalMs };
}

/** Publishes `sample()` as event `stats` on the stats channel every interval; returns the function that stops it. */
export function startStatsChannel(hub: Hub, config: StatsChannel, sample: () => unknown): () => void {
  const timer = setInterval(() => {
    if (hub.closed) return;
    try {
      const result = hub.publish(config.channel, 'stats', sample());
      // a refusal is already counted by the broker (drops.publish_refused)
      if (isPromiseLike(result)) result.then(undefined, () => undefined);
    } catch {
      // as above
    }
  }, config.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
