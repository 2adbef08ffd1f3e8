import type { ChannelName, Hub, PublishAck, PublishOptions } from '@unisocket/core';
import { BreakerRegistry, type JobQueue, createJobQueue } from '@unisocket/queue';
import type { EventSink } from '../event-source';
import { type LifecycleEvent, type ResolvedWebhookEndpoint, WebhookDispatcher } from '../webhooks';
import { BroadcastQueue, type QueueName } from './broadcast-queue';
import { type LifecycleBinding, attachLifecycle } from './lifecycle';
import { publishOperations } from './ops-channels';
import type { ResolvedOperationsOptions, ResolvedQueueOptions } from './options';

/** @internal What {@link Operations} needs from the service. */
export interface OperationsHost {
  publish(channel: ChannelName, event: string, data: unknown, options: PublishOptions): Promise<PublishAck>;
  /** Counts an operational event that could not be published. */
  recordDrop(reason: string): void;
  /** `true` when the service has a listener for a lifecycle event. */
  listens(name: LifecycleEvent['name']): boolean;
  /** Emits a lifecycle event on the service. */
  emitLifecycle(event: LifecycleEvent): void;
  /** A failure the service survived. */
  error(error: Error): void;
}

/**
 * @internal The service's operations: its job queues (broadcasts, webhooks), circuit breakers, webhook dispatcher,
 * lifecycle events and the operational channels — created with the service, started with its Hub, stopped on
 * shutdown.
 */
export class Operations {
  readonly breakers = new BreakerRegistry();
  readonly queues: ReadonlyMap<QueueName, JobQueue>;
  readonly queue: BroadcastQueue;
  readonly webhooks: WebhookDispatcher | undefined;
  readonly #host: OperationsHost;
  readonly #options: ResolvedOperationsOptions;
  #lifecycle: LifecycleBinding | undefined;
  #disconnect: (() => void) | undefined;
  #started = false;

  constructor(
    queue: ResolvedQueueOptions,
    operations: ResolvedOperationsOptions,
    webhooks: readonly ResolvedWebhookEndpoint[],
    host: OperationsHost,
  ) {
    this.#host = host;
    this.#options = operations;
    const make = (name: QueueName): JobQueue =>
      createJobQueue({
        name,
        ...(queue.redis === undefined
          ? {}
          : {
              redis: { url: queue.redis },
              prefix: queue.prefix,
              breakers: this.breakers,
              ...(queue.breaker === undefined ? {} : { breaker: queue.breaker }),
            }),
        ...(queue.concurrency === undefined ? {} : { concurrency: queue.concurrency }),
        ...(queue.defaultAttempts === undefined ? {} : { defaultAttempts: queue.defaultAttempts }),
        ...(queue.defaultBackoff === undefined ? {} : { defaultBackoff: queue.defaultBackoff }),
        ...(queue.maxDeadLetters === undefined ? {} : { maxDeadLetters: queue.maxDeadLetters }),
      });
    const queues = new Map<QueueName, JobQueue>([['broadcasts', make('broadcasts')]]);
    if (webhooks.length > 0) queues.set('webhooks', make('webhooks'));
    this.queues = queues;
    this.queue = new BroadcastQueue(queues, (channel, event, data, options) =>
      host.publish(channel, event, data, options),
    );
    this.webhooks =
      webhooks.length === 0
        ? undefined
        : new WebhookDispatcher({ endpoints: webhooks, queue: queues.get('webhooks')!, breakers: this.breakers });
  }

  /** `true` when some lifecycle event is wanted by a webhook or a service listener. */
  wants(name: LifecycleEvent['name']): boolean {
    return this.#host.listens(name) || (this.webhooks?.wants(name) ?? false);
  }

  /** `true` when channel occupancy must be tracked (a webhook or a listener wants occupied/vacated). */
  get wantsOccupancy(): boolean {
    return this.wants('channel_occupied') || this.wants('channel_vacated');
  }

  /** Starts the queues and the webhook dispatcher, and binds the Hub's events. Rejects when a queue cannot start. */
  async start(hub: Hub, nodeId: string): Promise<void> {
    this.#started = true;
    for (const queue of this.queues.values()) queue.on('error', (error) => this.#host.error(error));
    this.breakers.on('error', (error: Error) => this.#host.error(error));
    this.webhooks?.on('error', (error: Error) => this.#host.error(error));
    this.webhooks?.start();
    for (const queue of this.queues.values()) await queue.start();
    this.#lifecycle = attachLifecycle(
      hub,
      nodeId,
      (name) => this.wants(name),
      (event) => {
        this.webhooks?.push(event);
        if (!this.#host.listens(event.name)) return;
        // emitted from inside the Hub (a subscribe, a presence change): a listener's exception must not break it
        try {
          this.#host.emitLifecycle(event);
        } catch (error) {
          const reason = error instanceof Error ? error.message : String(error);
          this.#host.error(new Error(`a "${event.name}" listener threw: ${reason}`, { cause: error }));
        }
      },
    );
    const prefix = this.#options.prefix;
    if (prefix !== undefined) {
      const sink: EventSink = {
        publish: (channel, event, data) => this.#host.publish(channel, event, data, {}),
        recordDrop: (reason) => this.#host.recordDrop(reason),
      };
      const emitters = [
        ...this.queues.values(),
        this.breakers,
        ...(this.webhooks === undefined ? [] : [this.webhooks]),
      ];
      this.#disconnect = publishOperations(sink, prefix, emitters);
    }
  }

  /** Re-reads which lifecycle events are wanted (a service listener was added or removed). */
  refresh(hub: Hub | undefined): void {
    this.#lifecycle?.refresh();
    if (hub !== undefined && this.wantsOccupancy) hub.trackOccupancy();
  }

  /** Flushes the webhook batches into their queue, then closes the queues (active jobs finish first). */
  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    this.#lifecycle?.detach();
    await this.webhooks?.close();
    this.#disconnect?.();
    await Promise.allSettled([...this.queues.values()].map((queue) => queue.close()));
  }
}
