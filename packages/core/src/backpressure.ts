import { compilePattern } from './protocol/channel';
import type { ChannelName } from './protocol/types';

/**
 * What happens to a connection that does not read fast enough, per channel:
 *
 * - `disconnect`: once more than `limits.maxBufferedBytes` are buffered for it, it is closed with 4008 and
 *   recovers from history on reconnect. For streams where every message matters. The default.
 * - `drop-oldest`: for volatile channels (tickers, cursors, typing). While the socket holds more than the low-water
 *   mark, batches wait in a small per-connection queue instead of being written; when the queue and the socket
 *   together would pass `maxBufferedBytes`, the oldest queued batches are dropped. The newest batch is always
 *   kept; what is queued is written, oldest first, when the socket drains.
 * - `coalesce-latest`: for state channels (prices, scores, positions). While the connection is backed up only the
 *   newest message per key is kept and it is written when the socket drains. Should the kept states alone pass
 *   `maxBufferedBytes` (too many distinct keys), the connection is closed with 4008 like `disconnect`.
 *
 * Bytes already handed to the socket cannot be taken back, so "oldest" means the oldest message not yet written.
 * Offsets stay increasing on every channel; with `drop-oldest` and `coalesce-latest` they may skip.
 */
export type BackpressurePolicy = 'disconnect' | 'drop-oldest' | 'coalesce-latest';

/** The message a custom {@link CoalesceKey} function sees. */
export interface CoalesceMessage {
  channel: ChannelName;
  event: string;
  data: unknown;
  id: string;
  offset: number;
}

/**
 * What identifies "one state" on a `coalesce-latest` channel:
 * - `'channel'`: the channel itself; only its newest message is kept;
 * - `'event'`: the event name; the newest message of each event is kept (read from the serialized frame without
 *   parsing its data);
 * - a function of the message (e.g. `(m) => (m.data as { symbol: string }).symbol`): computed only while a
 *   subscriber is backed up, once per message for all backed-up subscribers (it parses the frame once).
 */
export type CoalesceKey = 'channel' | 'event' | ((message: CoalesceMessage) => string | number);

/** One rule of {@link BackpressureOptions.policies}. */
export interface BackpressureRule {
  /**
   * The channels the rule applies to: a channel pattern (`prices.*`, `cursor.*.moves`) or a kind keyword (`public`,
   * `private`, `presence`, `user`). The first matching rule decides a channel's policy.
   */
  pattern: string;
  /** The policy of the matching channels. */
  policy: BackpressurePolicy;
  /**
   * `coalesce-latest` only: what identifies one state.
   * @default 'channel'
   */
  key?: CoalesceKey;
}

/**
 * Backpressure: what the Hub does with connections that read slower than their channels publish. The bound itself
 * is `limits.maxBufferedBytes` per connection.
 *
 * @example
 * ```ts
 * backpressure: {
 *   policies: [
 *     { pattern: 'cursor.*', policy: 'drop-oldest' },
 *     { pattern: 'prices.*', policy: 'coalesce-latest', key: (m) => (m.data as { symbol: string }).symbol },
 *   ],
 *   default: 'disconnect',
 * }
 * ```
 */
export interface BackpressureOptions {
  /**
   * Rules by channel pattern, first match wins. Channels no rule matches use {@link default}.
   * @default []
   */
  policies?: BackpressureRule[];
  /**
   * The policy of channels no rule matches (and of the `*` channel). A `coalesce-latest` default coalesces per channel.
   * @default 'disconnect'
   */
  default?: BackpressurePolicy;
  /**
   * While a socket holds more than this many bytes, `drop-oldest` and `coalesce-latest` messages wait in the
   * connection's queue instead of being written; the queue is written out again once the socket is at or below it.
   * Must be below `limits.maxBufferedBytes`.
   * @default min(65_536, maxBufferedBytes / 4)
   */
  lowWaterBytes?: number;
  /**
   * How often backed-up connections are checked for a drained socket, in ms, for transports that give no drain
   * signal (`TransportSocket.onDrain`) and as a safety net. Runs only while some connection is backed up.
   * @default 100
   */
  drainCheckMs?: number;
}

/** Why a message line was not delivered to a connection (the keys of `HubStats.drops`). */
export type DropReason = 'drop-oldest' | 'coalesce-latest' | 'shed';

/**
 * A channel's resolved policy when it is not `disconnect` (which has none: the plain delivery path), as
 * {@link ResolvedBackpressure.policyFor} returns it to a transport.
 */
export interface ChannelPolicy {
  readonly kind: 'drop-oldest' | 'coalesce-latest';
  /** `coalesce-latest`: the key of one line, `undefined` for lines never coalesced (presence events, resyncs). */
  readonly keyOf: ((line: string) => string | number | undefined) | undefined;
}

/** Backpressure options validated and compiled. */
export interface ResolvedBackpressure {
  /** The policy of a channel, `null` for `disconnect`. */
  policyFor(channel: ChannelName): ChannelPolicy | null;
  /** `undefined` when defaulted (then it follows `maxBufferedBytes`). */
  readonly lowWaterBytes: number | undefined;
  readonly drainCheckMs: number;
}

const POLICIES: readonly BackpressurePolicy[] = ['disconnect', 'drop-oldest', 'coalesce-latest'];
const OPTION_KEYS = new Set(['policies', 'default', 'lowWaterBytes', 'drainCheckMs']);

/** The default low-water mark for a `maxBufferedBytes`. */
export function defaultLowWaterBytes(maxBufferedBytes: number): number {
  return Math.min(65_536, Math.floor(maxBufferedBytes / 4));
}

/**
 * Validates and compiles backpressure options for a `maxBufferedBytes`, throwing a `TypeError` that says what to
 * change. The Hub calls it; the server calls it at construction to reject bad options early.
 */
export function resolveBackpressure(
  options: BackpressureOptions | undefined,
  maxBufferedBytes: number,
): ResolvedBackpressure {
  const o = options ?? {};
  if (typeof o !== 'object' || o === null || Array.isArray(o)) {
    throw new TypeError(
      'backpressure must be an object: { policies?: [...], default?, lowWaterBytes?, drainCheckMs? }',
    );
  }
  for (const key of Object.keys(o)) {
    if (!OPTION_KEYS.has(key)) {
      throw new TypeError(`unknown option backpressure.${key}; known options: ${[...OPTION_KEYS].join(', ')}`);
    }
  }
  const fallback = o.default ?? 'disconnect';
  if (!POLICIES.includes(fallback)) {
    throw new TypeError(`backpressure.default must be one of ${POLICIES.join(', ')}, got ${JSON.stringify(fallback)}`);
  }
  const rules = o.policies ?? [];
  if (!Array.isArray(rules)) throw new TypeError('backpressure.policies must be an array of { pattern, policy, key? }');
  const compiled = rules.map((rule, i) => {
    const where = `backpressure.policies[${i}]`;
    if (typeof rule !== 'object' || rule === null) throw new TypeError(`${where} must be { pattern, policy, key? }`);
    if (typeof rule.pattern !== 'string') throw new TypeError(`${where}.pattern must be a channel pattern string`);
    if (!POLICIES.includes(rule.policy)) {
      throw new TypeError(`${where}.policy must be one of ${POLICIES.join(', ')}, got ${JSON.stringify(rule.policy)}`);
    }
    if (rule.key !== undefined && rule.policy !== 'coalesce-latest') {
      throw new TypeError(`${where}.key only applies to policy 'coalesce-latest'; remove it or change the policy`);
    }
    let matches: (channel: ChannelName) => boolean;
    try {
      matches = compilePattern(rule.pattern);
    } catch (error) {
      throw new TypeError(`${where}.pattern: ${(error as Error).message}`);
    }
    return { matches, policy: toChannelPolicy(rule.policy, rule.key, where) };
  });
  const defaultPolicy = toChannelPolicy(fallback, undefined, 'backpressure.default');
  let lowWaterBytes: number | undefined;
  if (o.lowWaterBytes !== undefined) {
    if (!Number.isInteger(o.lowWaterBytes) || o.lowWaterBytes < 0 || o.lowWaterBytes >= maxBufferedBytes) {
      throw new TypeError(
        `backpressure.lowWaterBytes must be an integer >= 0 and below limits.maxBufferedBytes (${maxBufferedBytes}), got ${String(o.lowWaterBytes)}`,
      );
    }
    lowWaterBytes = o.lowWaterBytes;
  }
  const drainCheckMs = o.drainCheckMs ?? 100;
  if (!Number.isInteger(drainCheckMs) || drainCheckMs < 1) {
    throw new TypeError(
      `backpressure.drainCheckMs must be a positive integer of milliseconds, got ${String(o.drainCheckMs)}`,
    );
  }
  return {
    policyFor(channel) {
      for (const rule of compiled) if (rule.matches(channel)) return rule.policy;
      return defaultPolicy;
    },
    lowWaterBytes,
    drainCheckMs,
  };
}

function toChannelPolicy(
  policy: BackpressurePolicy,
  key: CoalesceKey | undefined,
  where: string,
): ChannelPolicy | null {
  if (policy === 'disconnect') return null;
  if (policy === 'drop-oldest') return { kind: 'drop-oldest', keyOf: undefined };
  const k = key ?? 'channel';
  if (k === 'channel') return { kind: 'coalesce-latest', keyOf: channelKey };
  if (k === 'event') return { kind: 'coalesce-latest', keyOf: eventKey };
  if (typeof k !== 'function') {
    throw new TypeError(
      `${where}.key must be 'channel', 'event' or a function of the message, got ${JSON.stringify(k)}`,
    );
  }
  return {
    kind: 'coalesce-latest',
    keyOf: (line) => {
      if (!isMessageLine(line)) return undefined;
      try {
        const value = k(JSON.parse(line) as CoalesceMessage);
        return typeof value === 'number' ? value : String(value);
      } catch {
        // a key function that fails on a message leaves that message uncoalesced rather than breaking delivery
        return undefined;
      }
    },
  };
}

const MESSAGE_PREFIX = '{"type":"message",';

function isMessageLine(line: string): boolean {
  return line.startsWith(MESSAGE_PREFIX);
}

function channelKey(line: string): string | undefined {
  return isMessageLine(line) ? '' : undefined;
}

/** The event of a message line, as its raw JSON string literal (no parsing of the data). */
function eventKey(line: string): string | undefined {
  if (!isMessageLine(line)) return undefined;
  // channel names hold no quotes, so the first `","event":"` is the event field (see messageHead)
  const start = line.indexOf('","event":"');
  if (start < 0) return undefined;
  let i = start + 11;
  while (i < line.length) {
    const c = line.charCodeAt(i);
    if (c === 0x5c /* \ */) i += 2;
    else if (c === 0x22 /* " */) break;
    else i++;
  }
  return line.slice(start + 10, i + 1);
}
