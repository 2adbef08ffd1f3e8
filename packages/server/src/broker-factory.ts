import { Broker, type HistoryOptions, MemoryBroker } from '@unisocket/core';
import { LEGACY_DEDUPE_KEYS, warnLegacyDedupe } from './compat';
import { importOptional } from './optional';
import type { BrokerConfig, DedupeOptions, UnifiedWebSocketServiceOptions } from './options';

/** The `dedupe` options in their current names, validated. */
export type ResolvedDedupe = Pick<DedupeOptions, 'deliveredIds' | 'idempotencyKeys' | 'idempotencyWindowMs'>;

const DEDUPE_KEYS = ['deliveredIds', 'idempotencyKeys', 'idempotencyWindowMs'] as const;

/** The broker option each `dedupe` option must not be set together with. */
const BROKER_EQUIVALENT: Readonly<Record<string, readonly string[]>> = {
  deliveredIds: ['deliveredIdsWindow', 'dedupeWindow'],
  idempotencyKeys: ['idempotencyCacheSize', 'dedupeCacheSize'],
  idempotencyWindowMs: ['idempotencyWindowMs', 'dedupeWindowMs'],
};

/** The broker a service will run: an instance of the application's, or a config the service creates it from. */
export type BrokerPlan =
  | { instance: Broker }
  | {
      instance?: undefined;
      type: BrokerConfig['type'];
      config: BrokerConfig | undefined;
      history: HistoryOptions | undefined;
      dedupe: ResolvedDedupe;
    };

/** Validates `broker`, `history` (where it may be given) and `dedupe`, throwing a `TypeError` that says what to change. */
export function resolveBrokerPlan(options: UnifiedWebSocketServiceOptions): BrokerPlan {
  const { broker, history } = options;
  const dedupe = resolveDedupe(options.dedupe, broker);
  if (broker instanceof Broker) return { instance: broker };
  if (
    broker !== undefined &&
    (typeof broker !== 'object' || broker === null || typeof (broker as { type?: unknown }).type !== 'string')
  ) {
    throw new TypeError(
      "broker must be { type: 'memory' | 'redis' | 'kafka', ... } or a Broker instance (e.g. new RedisBroker(...))",
    );
  }
  const type = broker?.type ?? 'memory';
  if (!['memory', 'redis', 'kafka'].includes(type)) {
    throw new TypeError(`unknown broker.type ${JSON.stringify(type)}: use 'memory', 'redis' or 'kafka'`);
  }
  if (broker?.history !== undefined && history !== undefined) {
    throw new TypeError('set history either at the top level or in broker.history, not both');
  }
  return { type, config: broker, history: history ?? broker?.history, dedupe };
}

function resolveDedupe(dedupe: unknown, broker: BrokerConfig | Broker | undefined): ResolvedDedupe {
  if (dedupe === undefined) return {};
  const known = [...DEDUPE_KEYS, ...Object.keys(LEGACY_DEDUPE_KEYS)];
  if (typeof dedupe !== 'object' || dedupe === null)
    throw new TypeError(`dedupe must be { ${DEDUPE_KEYS.join('?, ')}? }`);
  const given = dedupe as Record<string, unknown>;
  const resolved: ResolvedDedupe = {};
  const legacy: string[] = [];
  const setBy = new Map<string, string>();
  const brokerOptions = (broker instanceof Broker ? {} : (broker ?? {})) as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!known.includes(key))
      throw new TypeError(`unknown option dedupe.${key}; known options: ${DEDUPE_KEYS.join(', ')}`);
    const value = given[key];
    if (value === undefined) continue;
    if (!(Number.isInteger(value) && (value as number) >= 1)) {
      throw new TypeError(`dedupe.${key} must be a positive integer, got ${String(value)}`);
    }
    const targets = LEGACY_DEDUPE_KEYS[key] ?? [key as keyof ResolvedDedupe];
    if (LEGACY_DEDUPE_KEYS[key] !== undefined) legacy.push(key);
    for (const target of targets) {
      const other = setBy.get(target);
      if (other !== undefined) throw new TypeError(`set dedupe.${other} or dedupe.${key}, not both`);
      setBy.set(target, key);
      for (const equivalent of BROKER_EQUIVALENT[target] ?? []) {
        if (brokerOptions[equivalent] !== undefined)
          throw new TypeError(`set dedupe.${key} or broker.${equivalent}, not both`);
      }
      resolved[target as keyof ResolvedDedupe] = value as number;
    }
  }
  if (setBy.size > 0 && broker instanceof Broker) {
    throw new TypeError(
      'dedupe applies to brokers the service creates; pass deliveredIdsWindow (and idempotency options) to the Broker you construct instead',
    );
  }
  if (legacy.length > 0) warnLegacyDedupe(given, legacy);
  return resolved;
}

/** Creates the broker of a plan (importing the Redis or Kafka package on use). */
export async function createBroker(plan: BrokerPlan, nodeId: string | undefined): Promise<Broker> {
  if (plan.instance !== undefined) return plan.instance;
  const { history, dedupe } = plan;
  const node = nodeId === undefined ? {} : { nodeId };
  if (plan.type === 'memory') {
    return new MemoryBroker({
      ...node,
      ...(history === undefined ? {} : { history }),
      ...(dedupe.deliveredIds === undefined ? {} : { deliveredIdsWindow: dedupe.deliveredIds }),
      ...(dedupe.idempotencyKeys === undefined ? {} : { idempotencyCacheSize: dedupe.idempotencyKeys }),
      ...(dedupe.idempotencyWindowMs === undefined ? {} : { idempotencyWindowMs: dedupe.idempotencyWindowMs }),
    });
  }
  if (plan.type === 'redis') {
    const { type: _type, history: _history, ...rest } = plan.config as Extract<BrokerConfig, { type: 'redis' }>;
    const { RedisBroker } = await importOptional<typeof import('@unisocket/broker-redis')>(
      () => import('@unisocket/broker-redis'),
      '@unisocket/broker-redis',
      "broker.type 'redis'",
    );
    return new RedisBroker({
      ...rest,
      ...(dedupe.deliveredIds === undefined ? {} : { deliveredIdsWindow: dedupe.deliveredIds }),
      ...(dedupe.idempotencyWindowMs === undefined ? {} : { idempotencyWindowMs: dedupe.idempotencyWindowMs }),
      ...node,
      // maxChannels is a memory-history bound: Redis expires idle channels itself
      ...(history === undefined
        ? {}
        : {
            history: {
              ...(history.size === undefined ? {} : { size: history.size }),
              ...(history.ttlMs === undefined ? {} : { ttlMs: history.ttlMs }),
            },
          }),
    });
  }
  const { type: _type, history: _history, ...rest } = plan.config as Extract<BrokerConfig, { type: 'kafka' }>;
  const { KafkaBroker } = await importOptional<typeof import('@unisocket/broker-kafka')>(
    () => import('@unisocket/broker-kafka'),
    '@unisocket/broker-kafka',
    "broker.type 'kafka'",
  );
  return new KafkaBroker({
    ...rest,
    ...(dedupe.deliveredIds === undefined ? {} : { deliveredIdsWindow: dedupe.deliveredIds }),
    ...(dedupe.idempotencyKeys === undefined ? {} : { idempotencyCacheSize: dedupe.idempotencyKeys }),
    ...(dedupe.idempotencyWindowMs === undefined ? {} : { idempotencyWindowMs: dedupe.idempotencyWindowMs }),
    ...node,
    // the node's window of recent messages (of every channel it consumes) is what recovery reads first
    ...(history === undefined ? {} : { history }),
  });
}
