import type { Hub, MemoryBus } from '@unisocket/core';
import {
  type DegradationEvent,
  type DegradationPlan,
  type LeakAnalysis,
  LeakDetector,
  type MemoryLevel,
  type MemoryLevelChange,
  MemoryManager,
  type MemoryStatus,
  ProgressiveDegradation,
  levelRank,
  readMemory,
  resolveLeakDetectorOptions,
  resolveMemoryManagerOptions,
} from '@unisocket/memory';
import type { MemoryAnalysis } from '@unisocket/monitoring';
import type { LeakDetectionOptions, MemoryOptions } from './options';

const KNOWN = new Set([
  'enabled',
  'thresholds',
  'hysteresis',
  'sampleIntervalMs',
  'heapLimitBytes',
  'rssLimitBytes',
  'shrinkFactor',
  'emergencyBufferedBytes',
  'leakDetection',
]);

/** Validates the memory options at construction, throwing a `TypeError` that says what to change. @internal */
export function validateMemoryOptions(options: MemoryOptions | undefined): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null) throw new TypeError('memory must be an object');
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw new TypeError(`unknown option memory.${key}; known options: ${[...KNOWN].join(', ')}`);
  }
  try {
    resolveMemoryManagerOptions(managerOptions(options));
  } catch (error) {
    throw new TypeError(`memory: ${(error as Error).message}`);
  }
  if (options.leakDetection !== undefined && options.leakDetection !== false) {
    if (typeof options.leakDetection !== 'object' || options.leakDetection === null) {
      throw new TypeError('memory.leakDetection must be an object of options or false');
    }
    try {
      resolveLeakDetectorOptions(options.leakDetection);
    } catch (error) {
      throw new TypeError(`memory.leakDetection: ${(error as Error).message}`);
    }
  }
  const f = options.shrinkFactor;
  if (f !== undefined && !(typeof f === 'number' && f > 0 && f <= 1)) {
    throw new TypeError(`memory.shrinkFactor must be a number in (0, 1], got ${String(f)}`);
  }
  const e = options.emergencyBufferedBytes;
  if (e !== undefined && !(Number.isInteger(e) && e >= 0)) {
    throw new TypeError(`memory.emergencyBufferedBytes must be an integer >= 0, got ${String(e)}`);
  }
  if (options.enabled !== undefined && typeof options.enabled !== 'boolean') {
    throw new TypeError('memory.enabled must be true or false');
  }
}

function managerOptions(o: MemoryOptions): ConstructorParameters<typeof MemoryManager>[0] {
  return {
    ...(o.thresholds === undefined ? {} : { thresholds: o.thresholds }),
    ...(o.hysteresis === undefined ? {} : { hysteresis: o.hysteresis }),
    ...(o.sampleIntervalMs === undefined ? {} : { sampleIntervalMs: o.sampleIntervalMs }),
    ...(o.heapLimitBytes === undefined ? {} : { heapLimitBytes: o.heapLimitBytes }),
    ...(o.rssLimitBytes === undefined ? {} : { rssLimitBytes: o.rssLimitBytes }),
  };
}

/** What the service reports about its own memory-holding structures. */
export interface ServiceMemoryUsage {
  connections: number;
  channels: number;
  subscriptions: number;
  /** Messages held by the memory history (`null` with another history store). */
  historyMessages: number | null;
  /** Messages kept per channel now (`null` with another history store). */
  historySize: number | null;
  /** Unread bytes held for all connections: socket buffers plus backlogs. */
  bufferedBytes: number;
  backloggedConnections: number;
  backlogBytes: number;
  /** Publish idempotency keys remembered (`null` with another broker). */
  dedupeCacheEntries: number | null;
}

/** Shrinkable parts of the memory history / memory broker, found by shape (other brokers have none). */
interface ResizableHistory {
  readonly size: number;
  readonly messageCount: number;
  resize(size: number): number;
}

function resizableHistory(hub: Hub): ResizableHistory | undefined {
  const h = hub.broker.history as Partial<ResizableHistory>;
  return typeof h.resize === 'function' && typeof h.size === 'number' ? (h as ResizableHistory) : undefined;
}

type IdempotencyCache = Pick<MemoryBus, 'idempotencyCacheSize' | 'idempotencyCacheEntries' | 'resizeIdempotencyCache'>;

/** The memory bus's idempotency cache, when the broker is a MemoryBroker. */
function idempotencyCache(hub: Hub): IdempotencyCache | undefined {
  const bus = (hub.broker as unknown as { bus?: Partial<IdempotencyCache> }).bus;
  return typeof bus?.resizeIdempotencyCache === 'function' ? (bus as IdempotencyCache) : undefined;
}

/** @internal */
export function serviceMemoryUsage(hub: Hub | undefined): ServiceMemoryUsage {
  if (hub === undefined) {
    return {
      connections: 0,
      channels: 0,
      subscriptions: 0,
      historyMessages: null,
      historySize: null,
      bufferedBytes: 0,
      backloggedConnections: 0,
      backlogBytes: 0,
      dedupeCacheEntries: null,
    };
  }
  let subscriptions = 0;
  let bufferedBytes = 0;
  for (const conn of hub.connections()) {
    subscriptions += conn.subs?.size ?? 0;
    bufferedBytes += conn.bufferedBytes;
  }
  const history = resizableHistory(hub);
  const backlogs = hub.backlogStats();
  const historyMessages = (hub.broker.history as { messageCount?: unknown }).messageCount;
  return {
    connections: hub.connectionCount,
    channels: hub.channelCount,
    subscriptions,
    historyMessages: typeof historyMessages === 'number' ? historyMessages : null,
    historySize: history?.size ?? null,
    bufferedBytes,
    backloggedConnections: backlogs.connections,
    backlogBytes: backlogs.bytes,
    dedupeCacheEntries: idempotencyCache(hub)?.idempotencyCacheEntries ?? null,
  };
}

/** Callbacks the service gives its memory supervision. @internal */
export interface MemorySupervisorEvents {
  level(change: MemoryLevelChange): void;
  action(event: DegradationEvent): void;
  leak(analysis: LeakAnalysis): void;
  leakCleared(analysis: LeakAnalysis): void;
  error(error: Error): void;
}

/**
 * The service's memory supervision: a {@link MemoryManager} (created with the service, so monitoring can read its
 * level from the start), and once the Hub runs, the degradation plan it drives on the Hub and a {@link LeakDetector}
 * watching the service's structures. @internal
 */
export class MemorySupervisor {
  readonly manager: MemoryManager;
  #degradation: ProgressiveDegradation | undefined;
  #leaks: LeakDetector | undefined;
  readonly #options: MemoryOptions;

  constructor(options: MemoryOptions) {
    this.#options = options;
    this.manager = new MemoryManager(managerOptions(options));
  }

  get degradation(): ProgressiveDegradation | undefined {
    return this.#degradation;
  }

  get leaks(): LeakDetector | undefined {
    return this.#leaks;
  }

  /** Wires the plan to the Hub and starts sampling. */
  start(hub: Hub, on: MemorySupervisorEvents): void {
    const options = this.#options;
    const shrinkFactor = options.shrinkFactor ?? 0.5;
    const emergencyBytes = options.emergencyBufferedBytes ?? Math.floor(this.manager.heapLimitBytes * 0.05);
    this.#degradation = new ProgressiveDegradation(this.manager, degradationPlan(hub, shrinkFactor, emergencyBytes));
    this.manager.on('level', on.level);
    this.#degradation.on('action', on.action);
    this.#degradation.on('error', on.error);
    const leak = options.leakDetection;
    if (leak !== false) {
      const { suspects: extra, ...detectorOptions } = (leak ?? {}) as LeakDetectionOptions;
      this.#leaks = new LeakDetector({
        ...detectorOptions,
        suspects: () => {
          const u = serviceMemoryUsage(hub);
          const own: Record<string, number> = {
            connections: u.connections,
            channels: u.channels,
            subscriptions: u.subscriptions,
            bufferedBytes: u.bufferedBytes,
            backlogBytes: u.backlogBytes,
          };
          if (u.historyMessages !== null) own.historyMessages = u.historyMessages;
          if (u.dedupeCacheEntries !== null) own.dedupeCacheEntries = u.dedupeCacheEntries;
          return extra === undefined ? own : { ...own, ...extra() };
        },
      });
      this.#leaks.on('leak', on.leak);
      this.#leaks.on('cleared', on.leakCleared);
      this.#leaks.start();
    }
    this.manager.start();
  }

  stop(): void {
    this.manager.stop();
    this.#leaks?.stop();
    this.#degradation?.detach();
  }
}

/** The memory analysis monitoring reports (`forceMemoryAnalysis()`), extended with what memory management knows. */
export interface ServiceMemoryAnalysis extends MemoryAnalysis {
  process: MemoryAnalysis['process'] & {
    /** The old generation in use and its limit (V8's `heap_size_limit` minus the young generation's reserve). */
    oldGenerationUsed: number;
    oldGenerationLimit: number;
  };
  service: MemoryAnalysis['service'] &
    Omit<ServiceMemoryUsage, 'connections' | 'channels' | 'subscriptions' | 'historyMessages'>;
  analysis: MemoryAnalysis['analysis'] & {
    /** The pressure the level follows, in percent of `heapLimitBytes` (`null` with memory management off). */
    pressurePercent: number | null;
    /** The heap size that counts as 100% pressure (`null` with memory management off). */
    heapLimitBytes: number | null;
    /** What the heap part of the pressure was judged on: live data after the last major GC, or the heap in use. */
    heapSource: 'gc' | 'sample' | null;
    /** Since when the level holds (epoch ms; `null` with memory management off). */
    levelSince: number | null;
    /** The degradation steps in force, and the last things they did. */
    degradation: { active: { level: MemoryLevel; description: string }[]; recent: DegradationEvent[] };
    /** The leak detector's verdict (`null` when leak detection or memory management is off). */
    leak: LeakAnalysis | null;
    /** What an operator might do, in plain words. */
    recommendations: string[];
  };
}

/**
 * Extends monitoring's memory analysis (taken after a fresh sample, so its level is current) with the memory
 * manager's pressure, the service's memory-holding structures, the degradation in force and the leak verdict.
 * @internal
 */
export function extendMemoryAnalysis(
  base: MemoryAnalysis,
  hub: Hub | undefined,
  supervisor: MemorySupervisor | undefined,
  status: MemoryStatus | undefined,
): ServiceMemoryAnalysis {
  const reading = status?.reading ?? readMemory();
  const usage = serviceMemoryUsage(hub);
  const leak = supervisor?.leaks?.lastAnalysis ?? null;
  const level = base.analysis.level;
  const recommendations: string[] = [];
  if (levelRank(level) >= levelRank('warning')) {
    recommendations.push(
      `memory is at ${level}: add nodes or memory (--max-old-space-size), or lower history.size and limits.maxBufferedBytes`,
    );
  }
  if (
    hub !== undefined &&
    usage.connections > 0 &&
    usage.bufferedBytes / usage.connections > hub.limits.maxBufferedBytes / 4
  ) {
    recommendations.push(
      'clients are reading slowly: consider drop-oldest or coalesce-latest policies for volatile and state channels',
    );
  }
  if (leak?.suspected === true) recommendations.push(leak.reason);
  return {
    process: {
      ...base.process,
      oldGenerationUsed: reading.oldGenerationUsed,
      oldGenerationLimit: reading.oldGenerationLimit,
    },
    service: {
      ...base.service,
      historySize: usage.historySize,
      bufferedBytes: usage.bufferedBytes,
      backloggedConnections: usage.backloggedConnections,
      backlogBytes: usage.backlogBytes,
      dedupeCacheEntries: usage.dedupeCacheEntries,
    },
    analysis: {
      ...base.analysis,
      ...(supervisor === undefined ? {} : { thresholds: { ...supervisor.manager.thresholds } }),
      pressurePercent: status?.pressure ?? null,
      heapLimitBytes: supervisor?.manager.heapLimitBytes ?? null,
      heapSource: status?.heapSource ?? null,
      levelSince: status?.levelSince ?? null,
      degradation: {
        active: supervisor?.degradation?.active ?? [],
        recent: supervisor?.degradation?.log.slice(-20) ?? [],
      },
      leak,
      recommendations,
    },
  };
}

/** The documented actions of each level, on this Hub. */
function degradationPlan(hub: Hub, factor: number, emergencyBytes: number): DegradationPlan {
  const history = resizableHistory(hub);
  const dedupe = idempotencyCache(hub);
  const pct = `${Math.round(factor * 100)}%`;
  let historySize = 0;
  let dedupeSize = 0;
  let recoveryBuffer = 0;
  const warning: DegradationPlan['warning'] = [];
  if (history !== undefined) {
    warning.push({
      description: `history shrunk to ${pct} per channel`,
      apply: () => {
        historySize = history.size;
        const size = Math.floor(historySize * factor);
        return `history ${historySize} -> ${size} messages per channel, ${history.resize(size)} dropped`;
      },
      revert: () => {
        history.resize(historySize);
        return `history back to ${historySize} messages per channel`;
      },
    });
  }
  if (dedupe !== undefined) {
    warning.push({
      description: `idempotency cache shrunk to ${pct}`,
      apply: () => {
        dedupeSize = dedupe.idempotencyCacheSize;
        const size = Math.max(1, Math.floor(dedupeSize * factor));
        return `idempotency cache ${dedupeSize} -> ${size} keys, ${dedupe.resizeIdempotencyCache(size)} forgotten`;
      },
      revert: () => {
        dedupe.resizeIdempotencyCache(dedupeSize);
        return `idempotency cache back to ${dedupeSize} keys`;
      },
    });
  }
  warning.push({
    description: `recovery buffer limit shrunk to ${pct}`,
    apply: () => {
      recoveryBuffer = hub.limits.maxRecoveryBuffer;
      const size = Math.max(1, Math.floor(recoveryBuffer * factor));
      hub.setLimits({ maxRecoveryBuffer: size });
      return `maxRecoveryBuffer ${recoveryBuffer} -> ${size}`;
    },
    revert: () => {
      hub.setLimits({ maxRecoveryBuffer: recoveryBuffer });
      return `maxRecoveryBuffer back to ${recoveryBuffer}`;
    },
  });
  return {
    warning,
    critical: [
      {
        description: 'new connections refused (HTTP 503 at upgrade, close 4503)',
        apply: (status) =>
          hub.refuseConnections(
            `server overloaded: memory critical (${status.pressure}%); retry later or connect elsewhere`,
          ),
        revert: () => hub.refuseConnections(undefined),
      },
      {
        description: 'drop-oldest (volatile) channels shed',
        apply: () => {
          hub.shedding = true;
        },
        revert: () => {
          hub.shedding = false;
        },
      },
    ],
    emergency: [
      {
        description: `heaviest connections closed with 4503 until at most ${emergencyBytes} unread bytes are held`,
        apply: () => closeHeaviest(hub, emergencyBytes),
        repeat: () => closeHeaviest(hub, emergencyBytes),
      },
    ],
  };
}

function closeHeaviest(hub: Hub, bound: number): string | undefined {
  const closed = hub.disconnectHeaviest(bound);
  return closed === 0 ? undefined : `closed ${closed} connection(s) holding the most unread bytes`;
}
