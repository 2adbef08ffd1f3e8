import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { BreakerOptions, BreakerState, JobContext, JobQueue } from '@unisocket/queue';
import { eventScope, webhookBody, webhookEventOf } from './body';
import { deliverWebhook, describeFailure } from './delivery';
import type { LifecycleEvent, LifecycleEventName } from './events';
import type { ResolvedWebhookEndpoint } from './options';

/** Failed attempts remembered while the queue decides (it answers at once; the bound is for a queue that never does). */
const MAX_FAILING = 10_000;

/** The job name webhook batches are queued under. */
export const WEBHOOK_JOB = 'webhook';

/** What one queued webhook job holds: everything a node needs to send it, the signing secret excepted. */
export interface WebhookJobData {
  /** The endpoint's index in the configured list. */
  endpoint: number;
  /** The endpoint's URL without credentials or query (a job whose index now names another URL is matched by it). */
  url: string;
  /** The exact body sent on every attempt. */
  body: string;
  /** Events in the body. */
  events: number;
  /** When the batch was made (its `time_ms`). */
  addedAt: number;
}

/** A circuit breaker as the dispatcher uses it (`Breaker` of `@unisocket/queue`). */
export interface WebhookBreaker {
  readonly state: BreakerState;
  /** Runs `fn` when the breaker lets it; rejects at once, without calling it, while open. */
  execute<T>(fn: () => Promise<T>): Promise<T>;
}

/** Where the dispatcher gets one breaker per endpoint (`BreakerRegistry` of `@unisocket/queue`). */
export interface WebhookBreakers {
  get(name: string, options?: BreakerOptions): WebhookBreaker;
}

/** Options of {@link WebhookDispatcher}. */
export interface WebhookDispatcherOptions {
  /** The endpoints, from {@link resolveWebhooks}. */
  endpoints: readonly ResolvedWebhookEndpoint[];
  /** The queue the batches go through (BullMQ when the service has Redis: durable; else in memory). */
  queue: JobQueue;
  /** The breakers: one per endpoint URL, named `webhook:<url>`. */
  breakers: WebhookBreakers;
  /**
   * Batches being handed to the queue at once, at most; while that many wait (a slow Redis), further batches are
   * dropped and counted instead of piling up in memory.
   * @default 1_000
   */
  maxPendingAdds?: number;
}

/** Payloads of {@link WebhookDispatcher}'s events (the names the event streamer's users know). */
export interface WebhookDispatcherEvents {
  /** A batch was answered 2xx. */
  'webhook-delivered': [event: { url: string; events: number; attempt: number; status: number; durationMs: number }];
  /**
   * An attempt failed (status, timeout, reset, unreadable answer, breaker open). `final`: no attempt follows, the batch
   * is in the dead-letter queue (or, for an endpoint no longer configured, dropped).
   */
  'webhook-failed': [event: { url: string; events: number; attempt: number; error: string; final: boolean }];
  /** A batch never reached the queue: the queue refused it (`UNAVAILABLE`), too many were waiting, or the dispatcher was closed. */
  'webhook-dropped': [event: { url: string; events: number; reason: string }];
  /**
   * A failure the dispatcher survived: the queue started refusing batches (reported once until it takes one again).
   * Emitted only while someone listens.
   */
  error: [error: Error];
}

/**
 * The dispatcher's counters on this node, for health and metrics (the `WebhookStats` of `@unisocket/monitoring` and
 * more). A batch is counted where its last attempt ran.
 */
export interface WebhookDispatcherStats {
  /** Batches a receiver accepted (2xx). */
  delivered: number;
  /** Events in those batches. */
  deliveredEvents: number;
  /** Batches that failed for good: retries exhausted (the dead-letter queue), or their endpoint no longer configured. */
  failed: number;
  /** Attempts that failed, each retry counted. */
  failedAttempts: number;
  /** Events never handed to the queue (it refused them, too many batches waited for it, or pushed after close). */
  dropped: number;
  /** Batches never handed to the queue. */
  droppedBatches: number;
  /** Events waiting in this node's batches for `batchMs` (those being retried are jobs in the queue: see its counts). */
  pendingEvents: number;
}

interface EndpointBatch {
  readonly endpoint: ResolvedWebhookEndpoint;
  events: LifecycleEvent[];
  timer: NodeJS.Timeout | undefined;
}

/**
 * Sends lifecycle events to webhook endpoints, Pusher-style. {@link push} filters each event per endpoint (event
 * name, app, channel pattern) and batches it; a batch becomes one queue job whose handler POSTs it through the
 * endpoint's circuit breaker, so failed requests are retried with backoff by the queue (durably on BullMQ) and end in
 * its dead-letter queue once `retryForMs` has passed.
 *
 * Call {@link start} before the queue starts, {@link close} before the queue closes.
 */
export class WebhookDispatcher extends EventEmitter<WebhookDispatcherEvents> {
  readonly endpoints: readonly ResolvedWebhookEndpoint[];
  private readonly queue: JobQueue;
  private readonly breakers: WebhookBreakers;
  private readonly maxPendingAdds: number;
  private readonly batches: EndpointBatch[];
  /** The batches of the endpoints taking each event name (so push visits only those). */
  private readonly byName = new Map<LifecycleEventName, EndpointBatch[]>();
  private readonly adding = new Set<Promise<void>>();
  private readonly counters = {
    delivered: 0,
    deliveredEvents: 0,
    failed: 0,
    failedAttempts: 0,
    dropped: 0,
    droppedBatches: 0,
  };
  private started = false;
  private closed = false;
  /** The queue refused the last batch (an `error` was reported; the next one waits until it takes one again). */
  private refusing = false;
  /**
   * Failed attempts waiting for the queue's verdict, by job id: `retry-started` (another attempt follows) or
   * `entry-added` (the dead-letter queue), both emitted on the node that ran the attempt.
   */
  private readonly failing = new Map<string, WebhookDispatcherEvents['webhook-failed'][0]>();
  private readonly onRetry = (entry: { id: string; name: string }): void => this.settle(entry, false);
  private readonly onDeadLetter = (entry: { id: string; name: string }): void => this.settle(entry, true);

  constructor(options: WebhookDispatcherOptions) {
    super();
    const maxPendingAdds = options.maxPendingAdds ?? 1_000;
    if (!Number.isInteger(maxPendingAdds) || maxPendingAdds < 1) {
      throw new TypeError(`WebhookDispatcher maxPendingAdds must be a positive integer, got ${maxPendingAdds}`);
    }
    this.endpoints = options.endpoints;
    this.queue = options.queue;
    this.breakers = options.breakers;
    this.maxPendingAdds = maxPendingAdds;
    this.batches = options.endpoints.map((endpoint) => ({ endpoint, events: [], timer: undefined }));
    for (const batch of this.batches) {
      for (const name of batch.endpoint.events) {
        let list = this.byName.get(name);
        if (list === undefined) this.byName.set(name, (list = []));
        list.push(batch);
      }
    }
  }

  /** `true` when some endpoint takes events named `name` (the service builds only the events someone wants). */
  wants(name: LifecycleEventName): boolean {
    return this.byName.has(name);
  }

  /** Registers the webhook job handler on the queue. Call it before the queue's `start()`; idempotent. */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.queue.handle<WebhookJobData>(WEBHOOK_JOB, (job) => this.deliver(job));
    this.queue.on('retry-started', this.onRetry);
    this.queue.on('entry-added', this.onDeadLetter);
  }

  /**
   * Takes one lifecycle event (channel names and user ids as the Hub has them). Synchronous and cheap: it only
   * filters and appends to the batches of the endpoints that want it; never throws.
   */
  push(event: LifecycleEvent): void {
    try {
      const targets = this.byName.get(event.name);
      if (targets === undefined) return;
      if (this.closed) {
        this.counters.dropped++;
        return;
      }
      const scope = eventScope(event);
      const local = 'channel' in event ? event.channel.slice(scope.length) : undefined;
      let translated: LifecycleEvent | undefined;
      for (const batch of targets) {
        const endpoint = batch.endpoint;
        if (endpoint.appPrefix !== scope) continue;
        if (local !== undefined && !endpoint.matchesChannel(local)) continue;
        translated ??= webhookEventOf(event);
        batch.events.push(translated);
        if (batch.events.length >= endpoint.maxBatch) this.flush(batch);
        else batch.timer ??= setTimeout(() => this.flush(batch), endpoint.batchMs).unref();
      }
    } catch {
      // a malformed event (no channel, say) must not reach the publish path that pushed it
      this.counters.dropped++;
    }
  }

  /** The counters. */
  stats(): WebhookDispatcherStats {
    let pendingEvents = 0;
    for (const batch of this.batches) pendingEvents += batch.events.length;
    return { ...this.counters, pendingEvents };
  }

  /**
   * Hands every pending batch to the queue and waits (up to `timeoutMs`) until the queue has them. Later pushes are
   * dropped. Does not close the queue.
   */
  async close(timeoutMs = 5_000): Promise<void> {
    if (this.closed) return;
    for (const batch of this.batches) if (batch.events.length > 0) this.flush(batch);
    this.closed = true;
    if (this.adding.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.adding]),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs).unref())),
    ]);
    clearTimeout(timer);
  }

  private flush(batch: EndpointBatch): void {
    if (batch.timer !== undefined) {
      clearTimeout(batch.timer);
      batch.timer = undefined;
    }
    const events = batch.events;
    if (events.length === 0) return;
    batch.events = [];
    const endpoint = batch.endpoint;
    if (this.adding.size >= this.maxPendingAdds) {
      this.drop(endpoint, events.length, `${this.adding.size} batches are already waiting for the queue`);
      return;
    }
    const addedAt = Date.now();
    const data: WebhookJobData = {
      endpoint: endpoint.index,
      url: endpoint.safeUrl,
      body: webhookBody(events, addedAt),
      events: events.length,
      addedAt,
    };
    let adding: Promise<void>;
    try {
      adding = this.queue.add(WEBHOOK_JOB, data, { retryForMs: endpoint.retryForMs, backoff: endpoint.backoff }).then(
        () => {
          this.refusing = false;
        },
        (error: unknown) => this.refused(endpoint, events.length, error),
      );
    } catch (error) {
      this.refused(endpoint, events.length, error);
      return;
    }
    this.adding.add(adding);
    void adding.finally(() => this.adding.delete(adding));
  }

  private refused(endpoint: ResolvedWebhookEndpoint, events: number, error: unknown): void {
    const reason = `the queue refused it: ${describeFailure(error)}`;
    this.drop(endpoint, events, reason);
    if (this.refusing) return;
    this.refusing = true;
    if (this.listenerCount('error') === 0) return;
    const report = new Error(`webhook batches are dropped while the queue refuses them (${reason})`, { cause: error });
    this.notify('error', report);
  }

  private drop(endpoint: ResolvedWebhookEndpoint, events: number, reason: string): void {
    this.counters.droppedBatches++;
    this.counters.dropped += events;
    this.notify('webhook-dropped', { url: endpoint.safeUrl, events, reason });
  }

  /** The job handler: one attempt at one batch. Throws to have the queue retry it. */
  private async deliver(job: JobContext<WebhookJobData>): Promise<void> {
    const data = job.data;
    const attempt = job.attemptsMade + 1;
    const endpoint = this.endpointOf(data);
    if (endpoint === undefined) {
      // configuration changed across a restart: nobody to send it to, and retrying will not change that
      this.counters.failedAttempts++;
      this.counters.failed++;
      this.notify('webhook-failed', {
        url: data.url,
        events: data.events,
        attempt,
        error: `no webhook endpoint ${data.url} is configured any more; the batch is dropped`,
        final: true,
      });
      return;
    }
    const started = performance.now();
    let requested = false;
    let breaker: WebhookBreaker | undefined;
    try {
      breaker = this.breakers.get(endpoint.breakerName, endpoint.breaker);
      const status = await breaker.execute(() => {
        requested = true;
        return deliverWebhook(endpoint, data.body);
      });
      this.counters.delivered++;
      this.counters.deliveredEvents += data.events;
      this.notify('webhook-delivered', {
        url: endpoint.safeUrl,
        events: data.events,
        attempt,
        status,
        durationMs: Math.round((performance.now() - started) * 10) / 10,
      });
    } catch (error) {
      this.counters.failedAttempts++;
      const reason = requested
        ? describeFailure(error, endpoint.timeoutMs)
        : `no request made: ${error instanceof Error ? error.message : String(error)}`;
      // reported once the queue says whether another attempt follows (see settle)
      if (this.failing.size >= MAX_FAILING) this.failing.delete(this.failing.keys().next().value!);
      this.failing.set(job.id, { url: endpoint.safeUrl, events: data.events, attempt, error: reason, final: false });
      throw new Error(`webhook ${endpoint.safeUrl}: ${reason}`, { cause: error });
    }
  }

  /** The queue's verdict on a failed attempt of a webhook job this node ran: `webhook-failed`, final or not. */
  private settle(entry: { id: string; name: string }, final: boolean): void {
    if (entry.name !== WEBHOOK_JOB) return;
    const failure = this.failing.get(entry.id);
    if (failure === undefined) return;
    this.failing.delete(entry.id);
    if (final) this.counters.failed++;
    this.notify('webhook-failed', { ...failure, final });
  }

  private endpointOf(data: WebhookJobData): ResolvedWebhookEndpoint | undefined {
    if (data === null || typeof data !== 'object' || typeof data.body !== 'string') return undefined;
    const byIndex = this.endpoints[data.endpoint];
    if (byIndex !== undefined && byIndex.safeUrl === data.url) return byIndex;
    return this.endpoints.find((e) => e.safeUrl === data.url);
  }

  /** Emits without letting a listener's exception fail a delivered job (it would be sent again). */
  private notify<E extends keyof WebhookDispatcherEvents>(event: E, ...args: WebhookDispatcherEvents[E]): void {
    try {
      (this.emit as (event: E, ...args: WebhookDispatcherEvents[E]) => boolean)(event, ...args);
    } catch {
      // a listener's bug is not the receiver's failure
    }
  }
}
