import { renamedOption } from '../deprecation';

/** Options shared by every broker. */
export interface BrokerOptions {
  /**
   * This node's id, unique in the cluster. The service passes its own.
   * @default a random 8-character id
   */
  nodeId?: string;
  /**
   * How many recently delivered message ids this node remembers to drop a message the backend delivers twice
   * (a count, not a time).
   * @default 10_000
   */
  deliveredIdsWindow?: number;
  /**
   * @deprecated Use {@link deliveredIdsWindow} (the same count; a one-time `DeprecationWarning`). Giving both with
   * different values is a `TypeError`.
   */
  dedupeWindow?: number;
  /**
   * While the backend is unreachable, publishes wait in a queue of at most this many; beyond it they are refused
   * with `UNAVAILABLE`. `0` refuses at once.
   * @default 1_000
   */
  maxPendingPublishes?: number;
  /**
   * How long a queued publish may wait for the backend before it is refused with `UNAVAILABLE`, in ms.
   * @default 10_000
   */
  pendingPublishTimeoutMs?: number;
  /**
   * How long a message that arrived ahead of a missing one is held before the gap is filled from history, in ms.
   * @default 100
   */
  gapTimeoutMs?: number;
  /**
   * The most messages held per channel while waiting for a gap to fill; past it the gap is filled at once.
   * @default 10_000
   */
  maxHeldMessages?: number;
}

/** {@link BrokerOptions} after validation, with their defaults (the node id aside). */
export type ResolvedBrokerOptions = Omit<Required<BrokerOptions>, 'nodeId'>;

/**
 * Defaults of {@link BrokerOptions} (the node id aside). `dedupeWindow` is the deprecated name of
 * `deliveredIdsWindow`, kept so code reading it still works.
 */
export const DEFAULT_BROKER_OPTIONS = {
  deliveredIdsWindow: 10_000,
  dedupeWindow: 10_000,
  maxPendingPublishes: 1_000,
  pendingPublishTimeoutMs: 10_000,
  gapTimeoutMs: 100,
  maxHeldMessages: 10_000,
} as const satisfies ResolvedBrokerOptions;

const NUMERIC_OPTIONS = [
  'deliveredIdsWindow',
  'maxPendingPublishes',
  'pendingPublishTimeoutMs',
  'gapTimeoutMs',
  'maxHeldMessages',
] as const;

/**
 * Validates broker options, throwing a `TypeError` that says what to change. The deprecated `dedupeWindow` is
 * accepted for `deliveredIdsWindow` (warning once); the result carries both names with the same value.
 */
export function resolveBrokerOptions(options: BrokerOptions): ResolvedBrokerOptions {
  const given: BrokerOptions = { ...options };
  const deliveredIdsWindow = renamedOption(options, 'dedupeWindow', 'deliveredIdsWindow', 'broker');
  if (deliveredIdsWindow !== undefined) given.deliveredIdsWindow = deliveredIdsWindow as number;
  const resolved: { -readonly [K in keyof ResolvedBrokerOptions]: number } = { ...DEFAULT_BROKER_OPTIONS };
  for (const key of NUMERIC_OPTIONS) {
    const value = given[key];
    if (value === undefined) continue;
    const min = key === 'maxPendingPublishes' ? 0 : 1;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || !Number.isInteger(value)) {
      throw new TypeError(`broker option ${key} must be an integer >= ${min}, got ${String(value)}`);
    }
    resolved[key] = value;
  }
  resolved.dedupeWindow = resolved.deliveredIdsWindow;
  return resolved;
}
