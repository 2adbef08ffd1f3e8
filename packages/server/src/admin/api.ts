import {
  Broker,
  type ChannelName,
  type Connection,
  ErrorCode,
  type Hub,
  type PresenceMember,
  type PublishAck,
  isUnisocketError,
  isValidChannelName,
} from '@unisocket/core';
import type { HealthStatus, MonitorSample } from '@unisocket/monitoring';

/** What the admin API reads and acts on: the service, seen through the few things it needs. */
export interface AdminService {
  readonly nodeId: string;
  readonly transports: readonly string[];
  readonly startTime: number;
  /** The Hub (throws before `initialize()`). */
  readonly hub: Hub;
  readonly monitor: { sample(): MonitorSample };
  readonly queue: { counts(): Promise<unknown> };
  readonly breakers: { list(): unknown };
  getHealthStatus(): HealthStatus;
  broadcast(channel: ChannelName, event: string, data?: unknown): Promise<PublishAck>;
  disconnectUser(userId: string, code?: number, reason?: string): number;
}

/** An answer of the admin API: a status and a JSON body. */
export interface AdminAnswer {
  status: number;
  body: unknown;
}

/** The most rows of one page (connections, channels, subscribers, presence members). */
export const MAX_ADMIN_PAGE = 1_000;
/** The most history messages of one page. */
export const MAX_HISTORY_PAGE = 200;
/** The close reason of an administrator's disconnect. */
export const ADMIN_CLOSE_REASON = 'disconnected by an administrator';

/** A 4xx/5xx answer with the service's error shape. */
export class AdminError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const bad = (message: string): AdminError => new AdminError(400, ErrorCode.BAD_REQUEST, message);
const notFound = (message: string): AdminError => new AdminError(404, ErrorCode.NOT_FOUND, message);

/** An integer query parameter within [min, max], or the default; 400 otherwise. */
export function intParam(query: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const raw = query.get(name);
  if (raw === null || raw === '') return fallback;
  if (!/^\d{1,15}$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw bad(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw.slice(0, 40))}`);
  }
  return Number(raw);
}

function textParam(query: URLSearchParams, name: string): string | undefined {
  const raw = query.get(name);
  if (raw === null || raw === '') return undefined;
  if (raw.length > 256) throw bad(`${name} is at most 256 characters`);
  return raw;
}

/** A channel name from the path, validated (400). */
export function channelParam(raw: string): ChannelName {
  let name: string;
  try {
    name = decodeURIComponent(raw);
  } catch {
    throw bad('the channel name in the path is not valid percent-encoding');
  }
  if (!isValidChannelName(name)) {
    throw bad(
      `${JSON.stringify((name as string).slice(0, 200))} is not a channel name ([A-Za-z0-9_.:=@-], at most 200 characters)`,
    );
  }
  return name;
}

function hubOf(service: AdminService): Hub {
  try {
    return service.hub;
  } catch {
    throw new AdminError(503, ErrorCode.UNAVAILABLE, 'the service is not initialized yet');
  }
}

/** `true` when the broker reaches other nodes for subscriber counts (it overrides the node-local default). */
function clusterCounts(broker: Broker): boolean {
  return broker.subscriberCounts !== Broker.prototype.subscriberCounts;
}

function connectionRow(conn: Connection) {
  return {
    id: conn.id,
    userId: conn.userId,
    transport: conn.transport,
    ip: conn.ip,
    channels: conn.channels,
    connectedAt: conn.connectedAt,
    messagesOut: conn.delivered,
    bytesOut: conn.bytesOut,
    commandsIn: conn.commandsIn,
    bufferedBytes: conn.bufferedBytes,
  };
}

/** `GET api/node`: this node, its health, broker and transports. */
export function nodeInfo(service: AdminService): AdminAnswer {
  const hub = hubOf(service);
  return {
    status: 200,
    body: {
      nodeId: service.nodeId,
      scope: 'node',
      startTime: service.startTime,
      transports: service.transports,
      connections: hub.connectionCount,
      users: hub.userCount,
      channels: hub.channelCount,
      broker: { ...hub.broker.health(), clusterSubscriberCounts: clusterCounts(hub.broker) },
      health: service.getHealthStatus(),
    },
  };
}

/** `GET api/operations`: queue counts and circuit breakers. */
export async function operationsInfo(service: AdminService): Promise<AdminAnswer> {
  const queues = await service.queue.counts();
  return { status: 200, body: { nodeId: service.nodeId, queues, breakers: service.breakers.list() } };
}

/** `GET api/sample`: a monitor sample of this node (what the demo dashboard charts). */
export function sampleInfo(service: AdminService): AdminAnswer {
  hubOf(service);
  return { status: 200, body: { nodeId: service.nodeId, scope: 'node', sample: service.monitor.sample() } };
}

/** `GET api/connections?user&channel&transport&ip&offset&limit`: this node's connections, filtered and paged. */
export function listConnections(service: AdminService, query: URLSearchParams): AdminAnswer {
  const hub = hubOf(service);
  const user = textParam(query, 'user');
  const channel = textParam(query, 'channel');
  const transport = textParam(query, 'transport');
  const ip = textParam(query, 'ip');
  const offset = intParam(query, 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
  const limit = intParam(query, 'limit', 100, 1, MAX_ADMIN_PAGE);
  const rows: ReturnType<typeof connectionRow>[] = [];
  let total = 0;
  for (const conn of hub.connections()) {
    if (conn.closed) continue;
    if (user !== undefined && conn.userId !== user) continue;
    if (transport !== undefined && conn.transport !== transport) continue;
    if (ip !== undefined && conn.ip !== ip) continue;
    if (channel !== undefined && !conn.isSubscribed(channel)) continue;
    if (total >= offset && rows.length < limit) rows.push(connectionRow(conn));
    total++;
  }
  return { status: 200, body: { nodeId: service.nodeId, scope: 'node', total, offset, limit, connections: rows } };
}

/** `GET api/channels?prefix&offset&limit`: channels with subscribers, this node's and as wide as the broker reaches. */
export async function listChannels(service: AdminService, query: URLSearchParams): Promise<AdminAnswer> {
  const hub = hubOf(service);
  const prefix = textParam(query, 'prefix') ?? '';
  const offset = intParam(query, 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
  const limit = intParam(query, 'limit', 100, 1, MAX_ADMIN_PAGE);
  const cluster = await hub.broker.subscriberCounts({ prefix });
  const local = hub.channelSubscriberCounts();
  const names = new Set<ChannelName>(cluster.keys());
  for (const [name, count] of local) if (count > 0 && name.startsWith(prefix)) names.add(name);
  const sorted = [...names].sort();
  const channels = sorted.slice(offset, offset + limit).map((name) => ({
    name,
    local: local.get(name) ?? 0,
    cluster: Math.max(cluster.get(name) ?? 0, local.get(name) ?? 0),
  }));
  return {
    status: 200,
    body: {
      nodeId: service.nodeId,
      clusterWide: clusterCounts(hub.broker),
      total: sorted.length,
      offset,
      limit,
      channels,
    },
  };
}

/** `GET api/channels/<name>`: subscriber counts, this node's subscribers, presence members, history position. */
export async function channelInfo(service: AdminService, channel: ChannelName): Promise<AdminAnswer> {
  const hub = hubOf(service);
  const cluster = (await hub.broker.subscriberCounts([channel])).get(channel) ?? 0;
  const subscribers = hub.channelSubscribers(channel);
  const position = await hub.broker.history.position(channel);
  if (cluster === 0 && subscribers.length === 0 && position.offset === 0) {
    throw notFound(`channel ${JSON.stringify(channel)} has no subscribers and no history`);
  }
  let presence: PresenceMember[] | undefined;
  if (channel.startsWith('presence-')) presence = (await hub.presenceMembers(channel)).slice(0, MAX_ADMIN_PAGE);
  return {
    status: 200,
    body: {
      nodeId: service.nodeId,
      channel,
      local: subscribers.length,
      cluster: Math.max(cluster, subscribers.length),
      clusterWide: clusterCounts(hub.broker),
      subscribers: subscribers
        .slice(0, MAX_ADMIN_PAGE)
        .map((c) => ({ id: c.id, userId: c.userId, transport: c.transport })),
      ...(presence === undefined ? {} : { presence }),
      position,
    },
  };
}

/**
 * `GET api/channels/<name>/history?from&limit&epoch`: the messages with offsets from `from` on (default: the newest
 * page), at most `limit`, in the epoch given (default: the current one), with the offsets of the previous and next page.
 */
export async function channelHistory(
  service: AdminService,
  channel: ChannelName,
  query: URLSearchParams,
): Promise<AdminAnswer> {
  const hub = hubOf(service);
  const limit = intParam(query, 'limit', 20, 1, MAX_HISTORY_PAGE);
  const position = await hub.broker.history.position(channel);
  const epoch = textParam(query, 'epoch') ?? position.epoch;
  const from = intParam(query, 'from', Math.max(1, position.offset - limit + 1), 1, Number.MAX_SAFE_INTEGER);
  const read = await hub.broker.history.read(channel, { epoch, offset: from - 1 }, limit);
  const messages = read.messages.slice(0, limit).map((m) => {
    let event: unknown;
    let data: unknown;
    try {
      const frame = JSON.parse(m.line) as { event?: unknown; data?: unknown };
      event = frame.event;
      data = frame.data;
    } catch {}
    return { offset: m.offset, id: m.id, ts: m.ts, event, data };
  });
  const last = messages.at(-1)?.offset ?? from - 1;
  return {
    status: 200,
    body: {
      nodeId: service.nodeId,
      channel,
      epoch,
      epochChanged: epoch !== position.epoch,
      position,
      from,
      limit,
      complete: read.complete,
      messages,
      prev: from > 1 && epoch === position.epoch ? Math.max(1, from - limit) : null,
      next: epoch === position.epoch && last < position.offset ? last + 1 : null,
    },
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `POST api/publish` `{ channel, event, data }`: publishes on every node (`service.broadcast`). */
export async function publish(service: AdminService, body: unknown): Promise<AdminAnswer> {
  if (!isObject(body)) throw bad('send {"channel": string, "event": string, "data": any}');
  if (typeof body.channel !== 'string' || !isValidChannelName(body.channel)) {
    throw bad('"channel" must be a channel name ([A-Za-z0-9_.:=@-], at most 200 characters)');
  }
  if (typeof body.event !== 'string' || body.event.length === 0) throw bad('"event" must be a non-empty string');
  hubOf(service);
  try {
    const ack = await service.broadcast(body.channel, body.event, body.data);
    return { status: 202, body: { nodeId: service.nodeId, ...ack } };
  } catch (error) {
    if (isUnisocketError(error) && error.code === ErrorCode.BAD_REQUEST) throw bad(error.message);
    if (isUnisocketError(error) && error.code === ErrorCode.UNAVAILABLE) {
      throw new AdminError(503, ErrorCode.UNAVAILABLE, error.message);
    }
    throw error;
  }
}

function closeCode(value: unknown): number {
  if (value === undefined) return 1008;
  const ok =
    typeof value === 'number' &&
    Number.isInteger(value) &&
    (value === 1000 || value === 1001 || value === 1008 || value === 1011 || (value >= 3000 && value <= 4999));
  if (!ok) throw bad(`"code" must be 1000, 1001, 1008, 1011 or 3000–4999, got ${JSON.stringify(value)}`);
  return value;
}

/**
 * `POST api/disconnect` `{ connectionId }` (this node's connection) or `{ userId }` (every connection of the user, on
 * every node), with an optional close `code` (default 1008: the native client does not reconnect).
 */
export function disconnect(service: AdminService, body: unknown): AdminAnswer {
  if (!isObject(body)) throw bad('send {"connectionId": string} or {"userId": string}, and optionally "code"');
  const code = closeCode(body.code);
  const hub = hubOf(service);
  const { connectionId, userId } = body;
  if ((connectionId === undefined) === (userId === undefined)) {
    throw bad('send exactly one of "connectionId" and "userId"');
  }
  if (connectionId !== undefined) {
    if (typeof connectionId !== 'string' || connectionId.length === 0 || connectionId.length > 128) {
      throw bad('"connectionId" must be a string of 1 to 128 characters');
    }
    const conn = hub.getConnection(connectionId);
    if (conn === undefined || conn.closed) {
      throw notFound(`no open connection ${JSON.stringify(connectionId)} on node ${service.nodeId}`);
    }
    hub.disconnect(conn, code, ADMIN_CLOSE_REASON);
    return { status: 200, body: { nodeId: service.nodeId, disconnected: 1, code } };
  }
  if (typeof userId !== 'string' || userId.length === 0 || userId.length > 256) {
    throw bad('"userId" must be a string of 1 to 256 characters');
  }
  const closed = service.disconnectUser(userId, code, ADMIN_CLOSE_REASON);
  return { status: 200, body: { nodeId: service.nodeId, disconnected: closed, code, scope: 'cluster' } };
}
