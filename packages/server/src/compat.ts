/**
 * Names kept for applications moving to unisocket from earlier real-time systems: their method names (rooms, topics
 * and bills are channels), the single-transport `adapter` option, the old `dedupe` option names and the old
 * environment variable names. Each is a thin mapping onto the unisocket name, documented with the name to use
 * instead; see the migration guide (docs/migrating.md). Nothing else in the server depends on these names.
 */
import { type ChannelName, type PublishAck, type UserId, userChannel } from '@unisocket/core';
import type { DedupeOptions, TransportName } from './options';

// ------------------------------------------------------------------------------------------------
// methods of the service
// ------------------------------------------------------------------------------------------------

/** Methods of the service kept under their earlier names. */
export interface LegacyServiceMethods {
  /**
   * Publishes on `user:<userId>`: every connection of that user receives it.
   * @deprecated Use `sendUserNotification(userId, data, event)` or `broadcast(\`user:${userId}\`, event, data)`.
   */
  sendToUser(userId: UserId, event: string, data?: unknown): Promise<PublishAck>;
  /**
   * Rooms are channels.
   * @deprecated Use `broadcast(channel, event, data)`.
   */
  sendToRoom(room: ChannelName, event: string, data?: unknown): Promise<PublishAck>;
  /**
   * Topics are channels.
   * @deprecated Use `broadcast(channel, event, data)`.
   */
  broadcastToTopic(topic: ChannelName, event: string, data?: unknown): Promise<PublishAck>;
  /**
   * Publishes `update` on the channel `bill:<billId>`; the event is `update.type` or `update`.
   * @deprecated Use `broadcast(\`bill:${billId}\`, event, update)`: a bill is a channel like any other.
   */
  broadcastBillUpdate(billId: string | number, update: { type?: string; [key: string]: unknown }): Promise<PublishAck>;
  /**
   * The user ids subscribed to `bill:<billId>` on this node.
   * @deprecated Use `getChannelSubscribers(\`bill:${billId}\`)` and read each subscriber's `userId`.
   */
  getBillSubscribers(billId: string | number): UserId[];
}

/** What the kept methods call: the unisocket methods they stand for. */
interface LegacyMethodHost {
  broadcast(channel: ChannelName, event: string, data?: unknown): Promise<PublishAck>;
  getChannelSubscribers(channel: ChannelName): { userId: UserId | null }[];
}

const legacyServiceMethods: LegacyServiceMethods & ThisType<LegacyMethodHost> = {
  sendToUser(userId, event, data) {
    return this.broadcast(userChannel(userId), event, data);
  },
  sendToRoom(room, event, data) {
    return this.broadcast(room, event, data);
  },
  broadcastToTopic(topic, event, data) {
    return this.broadcast(topic, event, data);
  },
  broadcastBillUpdate(billId, update) {
    return this.broadcast(`bill:${billId}`, typeof update?.type === 'string' ? update.type : 'update', update);
  },
  getBillSubscribers(billId) {
    const users = new Set<UserId>();
    for (const s of this.getChannelSubscribers(`bill:${billId}`)) if (s.userId !== null) users.add(s.userId);
    return [...users];
  },
};

/** Installs {@link LegacyServiceMethods} on a class's prototype (not enumerable, like class methods). */
export function installLegacyMethods(target: { prototype: LegacyMethodHost }): void {
  for (const [name, method] of Object.entries(legacyServiceMethods)) {
    Object.defineProperty(target.prototype, name, {
      value: method,
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }
}

// ------------------------------------------------------------------------------------------------
// options
// ------------------------------------------------------------------------------------------------

/**
 * The transports the single-transport `adapter` option stands for, checked against `transports` (`undefined` when
 * `adapter` is not set).
 */
export function transportsFromAdapter(
  adapter: unknown,
  transports: readonly TransportName[] | undefined,
  known: readonly TransportName[],
): TransportName[] | undefined {
  if (adapter === undefined) return undefined;
  if (!known.includes(adapter as TransportName)) {
    throw new TypeError(`adapter must be ${known.map((t) => `'${t}'`).join(' or ')}, got ${JSON.stringify(adapter)}`);
  }
  const name = adapter as TransportName;
  if (transports !== undefined && !(transports.length === 1 && transports[0] === name)) {
    throw new TypeError(
      `adapter: '${name}' contradicts transports: ${JSON.stringify(transports)}; set only one of them`,
    );
  }
  return [name];
}

/** The old `dedupe` names and the names each one sets. */
export const LEGACY_DEDUPE_KEYS: Readonly<Record<string, readonly (keyof DedupeOptions)[]>> = {
  cacheSize: ['deliveredIds', 'idempotencyKeys'],
  windowMs: ['idempotencyWindowMs'],
};

/** `dedupe` objects {@link optionsFromEnv} built from the old variables, which are still documented: no warning. */
const fromEnvironment = new WeakSet<object>();

/** @internal Marks a `dedupe` object built from environment variables. */
export function markFromEnvironment(dedupe: object): void {
  fromEnvironment.add(dedupe);
}

let warnedDedupe = false;

/** Warns once per process that old `dedupe` names are in use (not for objects built from the environment). */
export function warnLegacyDedupe(dedupe: object, keys: readonly string[]): void {
  if (warnedDedupe || fromEnvironment.has(dedupe)) return;
  warnedDedupe = true;
  const names = keys.map((k) => `dedupe.${k} (use ${LEGACY_DEDUPE_KEYS[k]!.map((n) => `dedupe.${n}`).join(' and ')})`);
  process.emitWarning(`${names.join(', ')}: deprecated option names`, {
    type: 'DeprecationWarning',
    code: 'UNISOCKET_DEDUPE_OPTIONS',
  });
}

// ------------------------------------------------------------------------------------------------
// environment variables
// ------------------------------------------------------------------------------------------------

/** Environment variables read under an earlier name too (the earlier name is read first). */
export const LEGACY_ENV_NAMES: Readonly<Record<string, readonly string[]>> = {
  WS_MAX_CONNECTIONS: ['WEBSOCKET_MAX_CONNECTIONS'],
  WS_HEARTBEAT_INTERVAL: ['WEBSOCKET_HEARTBEAT_INTERVAL'],
};

/** A variable's names, earlier ones first. */
export function envNames(name: string): string[] {
  return [...(LEGACY_ENV_NAMES[name] ?? []), name];
}
