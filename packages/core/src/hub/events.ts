import type { DropReason } from '../backpressure';
import type { Connection, Identity } from '../connection';
import type { UnisocketError } from '../protocol/errors';
import type { ChannelName, MessageId, PresenceMember } from '../protocol/types';

/** Counters kept by the Hub (read by monitoring). Per-connection delivery counters live on the connections. */
export interface HubStats {
  connectionsTotal: number;
  connectionsPeak: number;
  /** Messages published through this node. */
  published: number;
  /** Messages of subscribed channels dispatched on this node (before fan-out). */
  dispatched: number;
  /** Frames written by flushes (one per channel per tick per subscriber group). */
  batches: number;
  /** Message lines delivered by connections that have closed (live ones count on the connection). */
  closedDelivered: number;
  closedBytesOut: number;
  closedCommandsIn: number;
  /** Connections closed because they did not read fast enough (4008). */
  slowConsumers: number;
  /**
   * Message lines not delivered to a connection, by reason: `drop-oldest` (dropped from a backed-up connection's
   * queue), `coalesce-latest` (replaced by a newer state with the same key while backed up), `shed` (a `drop-oldest`
   * channel not delivered at all while shedding under memory pressure; counted per subscriber).
   */
  drops: Record<DropReason, number>;
  /** Times a connection backed up on a `drop-oldest` or `coalesce-latest` channel (a backlog was opened for it). */
  backlogs: number;
  /** Connections closed with 4503 to free memory ({@link Hub.disconnectHeaviest}). */
  overloadDisconnects: number;
  /** Connections refused while the Hub refused new connections ({@link Hub.refuseConnections}). */
  refusedConnections: number;
  /** Subscribes with `since`: recovered, or told they missed messages. */
  recovered: number;
  notRecovered: number;
  /** Resync notices (history lost) sent for channels. */
  resyncs: number;
  /** Errors sent to clients, by code. */
  errors: Record<string, number>;
  /** Commands refused by the rate limiter. */
  rateLimited: number;
  /** Failed `auth` commands. */
  authFailures: number;
  /** `refresh` frames sent (identities about to expire). */
  refreshesRequested: number;
  /** Connections closed with 4001 because their identity expired without a refresh. */
  authExpired: number;
  /** When this node last published a message (epoch ms; 0 before the first). */
  lastPublishAt: number;
  /** When a connection last closed (epoch ms; 0 before the first). */
  lastDisconnectAt: number;
  /** What connections that have closed delivered and received, by transport (live ones count on the connection). */
  closedByTransport: Record<string, TransportTotals>;
}

/** Per-transport totals of closed connections (see {@link HubStats.closedByTransport}). */
export interface TransportTotals {
  delivered: number;
  bytesOut: number;
  commandsIn: number;
}

/** A client publish the broker accepted: the payload of the Hub's `clientPublish` event. */
export interface ClientPublish {
  /** The publishing connection (its `userId`, `id`, `ip`). */
  readonly conn: Connection;
  readonly channel: ChannelName;
  readonly event: string;
  /** The data as decoded from the client's command, already published as is; treat it as read-only. */
  readonly data: unknown;
  readonly id: MessageId;
  readonly epoch: string;
  readonly offset: number;
}

/** What happened to a channel cluster-wide: its first subscriber on any node, or its last one on every node gone. */
export type OccupancyAction = 'occupied' | 'vacated';

/** Events of the Hub. */
export interface HubEvents {
  connection: [conn: Connection];
  /**
   * A connection is gone. `code` and `reason` are what the server closed it with when the server closed it (4008,
   * 4503, 1001…, even when the peer never answered and the socket was dropped), otherwise what the transport reported.
   */
  disconnect: [conn: Connection, code: number, reason: string];
  authenticated: [conn: Connection, identity: Identity];
  subscribe: [conn: Connection, channel: ChannelName];
  unsubscribe: [conn: Connection, channel: ChannelName];
  /** An error sent to a client for one of its commands. */
  commandError: [conn: Connection, error: UnisocketError];
  slowConsumer: [conn: Connection];
  /**
   * A presence channel's member joined (the user's first connection in the channel anywhere in the cluster) or left
   * (its last one, after `presence.leaveGraceMs`; a dead node's members when its lease expires). Emitted on exactly
   * one node per change: the node whose presence store call made it, or the node that swept a dead node.
   */
  presence: [channel: ChannelName, action: 'join' | 'leave', member: PresenceMember];
  /**
   * A channel got its first subscriber on any node (`occupied`), or lost its last one on every node (`vacated`,
   * after the occupancy grace; a dead node's channels when its lease expires). Emitted on exactly one node per
   * change: the node whose own subscriber made it — only while it tracks occupancy ({@link HubOptions.occupancy},
   * {@link Hub.trackOccupancy}) — or the node that swept a dead node (tracking or not). Never for the `*` channel.
   */
  occupancy: [channel: ChannelName, action: OccupancyAction];
  /**
   * A transport told a client that a cache channel has no last event yet (the Pusher transport's
   * `pusher:cache_miss`), through {@link Hub.reportCacheMiss}. `channel` is the Hub's name (with its app namespace).
   */
  cacheMiss: [conn: Connection, channel: ChannelName];
  /**
   * A client's publish was authorized and accepted by the broker (after its ack was sent). Emitted once per client
   * publish, never for server-side {@link Hub.publish} calls nor for a repeated idempotency key — a hook to forward
   * client messages to a backend (e.g. the Kafka bridge). It costs nothing when no listener is attached.
   */
  clientPublish: [publish: ClientPublish];
  /** An unexpected failure the Hub survived (a broker or presence store error). */
  error: [error: Error];
}

/** Fresh {@link HubStats}, all zero. */
export function newHubStats(): HubStats {
  return {
    connectionsTotal: 0,
    connectionsPeak: 0,
    published: 0,
    dispatched: 0,
    batches: 0,
    closedDelivered: 0,
    closedBytesOut: 0,
    closedCommandsIn: 0,
    slowConsumers: 0,
    drops: { 'drop-oldest': 0, 'coalesce-latest': 0, shed: 0 },
    backlogs: 0,
    overloadDisconnects: 0,
    refusedConnections: 0,
    recovered: 0,
    notRecovered: 0,
    resyncs: 0,
    errors: {},
    rateLimited: 0,
    authFailures: 0,
    refreshesRequested: 0,
    authExpired: 0,
    lastPublishAt: 0,
    lastDisconnectAt: 0,
    closedByTransport: {},
  };
}
