import type { EventLoopMonitor } from './event-loop';
import {
  type MemoryLevelSource,
  type MemorySnapshot,
  assertMemorySource,
  readMemorySnapshot,
  resolveMemoryThresholds,
} from './memory';
import { QUEUE_BREAKER_PREFIX, assertSourceFunction, readOperations } from './operations';
import {
  type EventLoopLag,
  type HealthStatus,
  type HubSource,
  type MemoryThresholds,
  type OperationsSource,
  resolveHub,
} from './types';

/** Event-loop delay thresholds (p99 over the monitor's window, beyond the timer resolution). */
export interface EventLoopThresholds {
  /**
   * From this p99 delay on, health carries a warning (status unchanged), ms.
   * @default 200
   */
  warningMs: number;
  /**
   * From this p99 delay on, health is `degraded`, ms.
   * @default 1_000
   */
  criticalMs: number;
}

/** Defaults of {@link EventLoopThresholds}. */
export const DEFAULT_EVENT_LOOP_THRESHOLDS: Readonly<EventLoopThresholds> = { warningMs: 200, criticalMs: 1_000 };

/** Options of {@link HealthChecker}. */
export interface HealthCheckerOptions {
  /** The Hub to check, or a function returning it once it exists (`unhealthy: not started` until then). */
  hub: HubSource;
  /** @default the checker's creation time */
  startTime?: number;
  /** `true` once the service is shutting down (`unhealthy`). */
  shuttingDown?: () => boolean;
  /**
   * The memory level source (e.g. `MemoryManager` from `@unisocket/memory`). Without it the level follows heap used
   * vs the V8 heap limit and {@link memoryThresholds}.
   */
  memory?: MemoryLevelSource;
  /** Thresholds of the heap fallback, percent of the V8 heap limit. @default { warning: 70, critical: 85, emergency: 95 } */
  memoryThresholds?: Partial<MemoryThresholds>;
  /** The event-loop monitor to read (no event-loop check without it). */
  eventLoop?: EventLoopMonitor;
  /** Event-loop delay thresholds. */
  eventLoopThresholds?: Partial<EventLoopThresholds>;
  /** The node's connection limit: at it, health is `degraded` (new connections are refused); from 90 % a warning. */
  maxConnections?: number;
  /**
   * The service's operations (circuit breakers, webhooks, job queues), read synchronously at each check: it adds
   * `breakers` to the status, a warning per open or isolated breaker, and `degraded` while a `queue:` breaker is open.
   */
  operations?: OperationsSource;
}

const RANK = { healthy: 0, degraded: 1, unhealthy: 2 } as const;

/**
 * Decides `healthy` / `degraded` / `unhealthy`, with the reasons as `warnings` (impaired) and `errors` (not serving):
 *
 * | condition | status |
 * |---|---|
 * | not started, shutting down, Hub closed | unhealthy |
 * | broker `closed` | unhealthy |
 * | broker `connecting` or `degraded` (backend unreachable; publishes queue, bounded) | degraded |
 * | memory `emergency` | unhealthy |
 * | memory `critical` | degraded |
 * | memory `warning` | warning only |
 * | event-loop p99 delay ≥ `criticalMs` | degraded |
 * | event-loop p99 delay ≥ `warningMs` | warning only |
 * | at `maxConnections` | degraded (from 90 %: warning only) |
 * | publishes waiting for the broker | warning only (`queueHealth: false`) |
 * | a circuit breaker whose name starts with `queue:` is `open` (the job queue cannot take jobs) | degraded |
 * | any other circuit breaker `open` or `isolated` (an isolated `queue:` one included) | warning only |
 * | the `operations` source throws | warning only (`breakers` left out) |
 *
 * `/health` answers 503 for `unhealthy` (take the node out of rotation) and 200 otherwise.
 */
export class HealthChecker {
  readonly startTime: number;
  readonly memoryThresholds: Readonly<MemoryThresholds>;
  readonly eventLoopThresholds: Readonly<EventLoopThresholds>;
  readonly #options: HealthCheckerOptions;

  constructor(options: HealthCheckerOptions) {
    if (options === undefined || options.hub === undefined) {
      throw new TypeError('HealthChecker needs { hub }: a Hub or a function returning it');
    }
    assertMemorySource(options.memory);
    this.#options = options;
    this.startTime = options.startTime ?? Date.now();
    this.memoryThresholds = resolveMemoryThresholds(options.memoryThresholds);
    const el = { ...DEFAULT_EVENT_LOOP_THRESHOLDS, ...options.eventLoopThresholds };
    if (!(el.warningMs > 0 && el.criticalMs > el.warningMs)) {
      throw new TypeError(
        `eventLoopThresholds must satisfy 0 < warningMs (${el.warningMs}) < criticalMs (${el.criticalMs})`,
      );
    }
    this.eventLoopThresholds = el;
    const max = options.maxConnections;
    if (max !== undefined && (!Number.isInteger(max) || max < 1)) {
      throw new TypeError(`maxConnections must be a positive integer, got ${String(max)}`);
    }
    assertSourceFunction('operations', options.operations, '{ breakers, webhooks?, queues? }');
  }

  /** The memory level and heap figures now. */
  memory(): MemorySnapshot {
    return readMemorySnapshot(this.#options.memory, this.memoryThresholds);
  }

  /** Event-loop delay over the last window (zeros without a monitor). */
  eventLoopLag(): EventLoopLag {
    return this.#options.eventLoop?.lag() ?? { meanMs: 0, p50Ms: 0, p99Ms: 0, maxMs: 0, samples: 0 };
  }

  /** Runs the checks. Cheap: no I/O, one pass over nothing larger than the broker's state. */
  check(): HealthStatus {
    const now = Date.now();
    const hub = resolveHub(this.#options.hub);
    const memory = this.memory();
    const lag = this.eventLoopLag();
    const warnings: string[] = [];
    const errors: string[] = [];
    let status: HealthStatus['status'] = 'healthy';
    const raise = (to: HealthStatus['status'], message: string): void => {
      (to === 'unhealthy' ? errors : warnings).push(message);
      if (RANK[to] > RANK[status]) status = to;
    };
    const warn = (message: string): void => {
      warnings.push(message);
    };

    const broker = hub?.broker.health() ?? null;
    const shuttingDown = this.#options.shuttingDown?.() === true;
    if (hub === undefined) raise('unhealthy', 'not started: call service.initialize(server)');
    else if (shuttingDown || hub.closed) raise('unhealthy', 'shutting down');
    if (broker !== null && broker.state !== 'ready') {
      const text = `broker ${broker.kind} is ${broker.state}${broker.detail === undefined ? '' : `: ${broker.detail}`}`;
      raise(broker.state === 'closed' ? 'unhealthy' : 'degraded', text);
    }

    const memText = `memory level ${memory.level} (heap ${memory.heapUsedPercent}% of the V8 limit${memory.levelSource === 'source' ? ', from the memory manager' : ''})`;
    if (memory.level === 'emergency') raise('unhealthy', memText);
    else if (memory.level === 'critical') raise('degraded', memText);
    else if (memory.level === 'warning') warn(memText);

    const el = this.eventLoopThresholds;
    if (lag.p99Ms >= el.criticalMs)
      raise('degraded', `event loop delayed: p99 ${lag.p99Ms} ms (critical at ${el.criticalMs} ms)`);
    else if (lag.p99Ms >= el.warningMs) warn(`event loop delayed: p99 ${lag.p99Ms} ms (warning at ${el.warningMs} ms)`);

    const connections = hub?.connectionCount ?? 0;
    const max = this.#options.maxConnections;
    let atLimit = false;
    if (max !== undefined && hub !== undefined) {
      if (connections >= max) {
        atLimit = true;
        raise('degraded', `at the connection limit (${connections}/${max}): new connections are refused`);
      } else if (connections >= max * 0.9) warn(`near the connection limit (${connections}/${max})`);
    }

    const pending = hub?.broker.stats.pendingPublishes ?? 0;
    if (pending > 0) warn(`${pending} publishes are waiting for the broker`);

    const source = this.#options.operations;
    const operations = source === undefined ? undefined : readOperations(source);
    if (operations !== undefined && !operations.ok) warn(`operations source failed: ${operations.error}`);
    if (operations?.ok === true) {
      for (const b of operations.breakers) {
        if (b.state !== 'open' && b.state !== 'isolated') continue;
        if (b.state === 'open' && b.name.startsWith(QUEUE_BREAKER_PREFIX)) {
          raise('degraded', `circuit breaker "${b.name}" is open: the queue cannot take jobs`);
        } else warn(`circuit breaker "${b.name}" is ${b.state}`);
      }
    }

    return {
      status,
      isHealthy: status === 'healthy',
      uptime: now - this.startTime,
      memoryUsage: memory.heapUsedPercent,
      memoryLevel: memory.level,
      connectionHealth: hub !== undefined && !hub.closed && !shuttingDown && !atLimit && hub.refusing === undefined,
      queueHealth: pending === 0,
      broker,
      eventLoopLag: lag,
      nodeId: hub?.nodeId ?? '',
      connections,
      ...(operations?.ok === true ? { breakers: operations.breakers } : {}),
      warnings,
      errors,
      lastCheck: now,
    };
  }
}
