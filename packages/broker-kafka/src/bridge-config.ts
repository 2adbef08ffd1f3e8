import { BROADCAST_CHANNEL, type ChannelName, checkEventName, isValidChannelName } from '@unisocket/core';
import type { KafkaMessage } from 'kafkajs';
import type { BridgeDecoder, BridgeRecord, BridgeRoute, ForwardRule, KafkaBridgeOptions } from './bridge-options';

/** Defaults of the {@link KafkaBridgeOptions} that are plain values. */
export const BRIDGE_DEFAULTS = {
  groupId: 'unisocket.bridge',
  fromBeginning: false,
  maxValueBytes: 1_048_576,
  maxQueuedForwards: 10_000,
  forwardTimeoutMs: 10_000,
};

/** The plain-value options of a bridge, resolved over {@link BRIDGE_DEFAULTS}. */
export type BridgeSettings = typeof BRIDGE_DEFAULTS;

/** An inbound route, checked. */
export interface CompiledRoute {
  topic: string | RegExp;
  channel: BridgeRoute['channel'];
  event: BridgeRoute['event'];
}

/** A forwarding rule, checked, with its channel patterns compiled into one matcher. */
export interface CompiledRule {
  matches: (channel: ChannelName) => boolean;
  rule: ForwardRule;
}

/** What a bridge was asked to do, checked and compiled (see {@link resolveBridgeConfig}). */
export interface BridgeConfig {
  readonly settings: BridgeSettings;
  /** Topics → channels (empty: nothing consumed). */
  readonly routes: CompiledRoute[];
  /** Client publishes → topics (empty: nothing forwarded). */
  readonly rules: CompiledRule[];
  readonly decode: (value: Buffer | null, record: KafkaMessage, topic: string) => unknown;
  readonly decodeKey: (key: Buffer | null) => string | null;
  /** The event of a record whose route sets none. */
  readonly event: (record: BridgeRecord) => string;
}

/**
 * Checks a bridge's options (connection options and `createTopics` aside) and compiles its routes, forwarding rules,
 * channel patterns, decoders and event choice; a bad option throws a `TypeError` that says what to change.
 */
export function resolveBridgeConfig(options: KafkaBridgeOptions): BridgeConfig {
  const settings = { ...BRIDGE_DEFAULTS };
  for (const key of Object.keys(BRIDGE_DEFAULTS) as (keyof typeof BRIDGE_DEFAULTS)[]) {
    const value = options[key];
    if (value !== undefined) (settings as Record<string, unknown>)[key] = value;
  }
  if (typeof settings.groupId !== 'string' || settings.groupId.length === 0)
    throw new TypeError('KafkaBridge: groupId must be a non-empty string');
  if (typeof settings.fromBeginning !== 'boolean') throw new TypeError('KafkaBridge: fromBeginning must be a boolean');
  for (const key of ['maxValueBytes', 'maxQueuedForwards', 'forwardTimeoutMs'] as const) {
    if (!Number.isInteger(settings[key]) || settings[key] < 1) {
      throw new TypeError(`KafkaBridge: ${key} must be a positive integer, got ${String(settings[key])}`);
    }
  }
  const routes = compileRoutes(options.topics);
  const rules = compileRules(options.forward);
  if (routes.length === 0 && rules.length === 0) {
    throw new TypeError(
      'KafkaBridge: nothing to bridge: give topics (Kafka → channels) and/or forward (client publishes → Kafka)',
    );
  }
  return {
    settings,
    routes,
    rules,
    decode: compileDecoder(options.decode ?? 'json'),
    decodeKey: compileKeyDecoder(options.decodeKey ?? 'text'),
    event: compileEvent(options.event),
  };
}

/** Checks `createTopics`: `undefined` when off, else the partitions and replication factor of created topics. */
export function resolveCreateTopics(
  create: KafkaBridgeOptions['createTopics'],
): { partitions: number; replicationFactor: number } | undefined {
  if (create === undefined || create === false) return undefined;
  const { partitions = 3, replicationFactor = -1 } = create === true ? {} : create;
  if (!Number.isInteger(partitions) || partitions < 1)
    throw new TypeError('KafkaBridge: createTopics.partitions must be a positive integer');
  if (!Number.isInteger(replicationFactor) || (replicationFactor < 1 && replicationFactor !== -1)) {
    throw new TypeError('KafkaBridge: createTopics.replicationFactor must be a positive integer or -1');
  }
  return { partitions, replicationFactor };
}

function compileRoutes(topics: KafkaBridgeOptions['topics']): CompiledRoute[] {
  if (topics === undefined) return [];
  if (Array.isArray(topics)) {
    return topics.map((route, i) => {
      if (typeof route !== 'object' || route === null)
        throw new TypeError(`KafkaBridge: topics[${i}] must be { topic, channel, event? }`);
      if (!(typeof route.topic === 'string' && route.topic.length > 0) && !(route.topic instanceof RegExp)) {
        throw new TypeError(`KafkaBridge: topics[${i}].topic must be a topic name or a RegExp`);
      }
      if (
        typeof route.channel !== 'function' &&
        !isValidChannelName(route.channel) &&
        route.channel !== BROADCAST_CHANNEL
      ) {
        throw new TypeError(
          `KafkaBridge: topics[${i}].channel must be a channel name or a function, got ${JSON.stringify(route.channel)}`,
        );
      }
      if (
        route.event !== undefined &&
        typeof route.event !== 'function' &&
        (typeof route.event !== 'string' || route.event.length === 0)
      ) {
        throw new TypeError(`KafkaBridge: topics[${i}].event must be an event name or a function`);
      }
      return { topic: route.topic, channel: route.channel, event: route.event };
    });
  }
  if (typeof topics !== 'object' || topics === null)
    throw new TypeError('KafkaBridge: topics must be { topic: channel } or an array of routes');
  return Object.entries(topics).map(([topic, channel]) => {
    if (!isValidChannelName(channel) && channel !== BROADCAST_CHANNEL) {
      throw new TypeError(`KafkaBridge: topics["${topic}"] must be a channel name, got ${JSON.stringify(channel)}`);
    }
    return { topic, channel, event: undefined };
  });
}

function compileRules(forward: ForwardRule[] | undefined): CompiledRule[] {
  if (forward === undefined) return [];
  if (!Array.isArray(forward)) throw new TypeError('KafkaBridge: forward must be an array of { channels, topic }');
  return forward.map((rule, i) => {
    if (typeof rule !== 'object' || rule === null)
      throw new TypeError(`KafkaBridge: forward[${i}] must be { channels, topic }`);
    if (
      typeof rule.topic !== 'function' &&
      (typeof rule.topic !== 'string' || !/^[A-Za-z0-9._-]{1,249}$/.test(rule.topic))
    ) {
      throw new TypeError(`KafkaBridge: forward[${i}].topic must be a Kafka topic name or a function`);
    }
    return { matches: compileChannelMatcher(rule.channels, `forward[${i}].channels`), rule };
  });
}

function compileChannelMatcher(channels: ForwardRule['channels'], what: string): (channel: ChannelName) => boolean {
  if (typeof channels === 'function') return channels;
  if (channels instanceof RegExp) return (channel) => channels.test(channel);
  const patterns = typeof channels === 'string' ? [channels] : channels;
  if (!Array.isArray(patterns) || patterns.length === 0) {
    throw new TypeError(`KafkaBridge: ${what} must be a pattern, patterns, a RegExp or a function`);
  }
  const matchers = patterns.map((pattern) => {
    if (typeof pattern !== 'string' || !/^[A-Za-z0-9_.:=@*-]{1,200}$/.test(pattern)) {
      throw new TypeError(
        `KafkaBridge: ${what}: invalid channel pattern ${JSON.stringify(pattern)} (channel characters with * wildcards)`,
      );
    }
    if (!pattern.includes('*')) return (channel: ChannelName) => channel === pattern;
    const regex = new RegExp(
      `^${pattern
        .split('*')
        .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('[A-Za-z0-9_.:=@-]*')}$`,
    );
    return (channel: ChannelName) => regex.test(channel);
  });
  return (channel) => matchers.some((m) => m(channel));
}

function compileDecoder(decode: BridgeDecoder): (value: Buffer | null, record: KafkaMessage, topic: string) => unknown {
  if (typeof decode === 'function') return decode;
  if (decode === 'json') {
    return (value) => {
      if (value === null) throw new Error('the record has no value');
      return JSON.parse(value.toString('utf8')) as unknown;
    };
  }
  if (decode === 'text') return (value) => (value === null ? null : value.toString('utf8'));
  throw new TypeError(`KafkaBridge: decode must be 'json', 'text' or a function, got ${JSON.stringify(decode)}`);
}

function compileKeyDecoder(decodeKey: KafkaBridgeOptions['decodeKey']): (key: Buffer | null) => string | null {
  if (typeof decodeKey === 'function') return decodeKey;
  if (decodeKey === 'text') return (key) => (key === null ? null : key.toString('utf8'));
  throw new TypeError(`KafkaBridge: decodeKey must be 'text' or a function, got ${JSON.stringify(decodeKey)}`);
}

function compileEvent(event: KafkaBridgeOptions['event']): (record: BridgeRecord) => string {
  if (typeof event === 'function') return event;
  if (typeof event === 'string') {
    const badEvent = checkEventName(event, 'event');
    if (badEvent !== undefined) throw new TypeError(`KafkaBridge: ${badEvent}`);
    return () => event;
  }
  if (event !== undefined) throw new TypeError('KafkaBridge: event must be an event name or a function');
  return (record) => record.headers.event ?? 'message';
}
