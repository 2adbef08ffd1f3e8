import type { PublishRequest, PublishResult } from '../message';
import { ErrorCode } from '../protocol/constants';
import { UnisocketError } from '../protocol/errors';
import { type MaybePromise, settle } from '../util';
import type { BrokerState, BrokerStats } from './events';

/** What the queue says about the broker it belongs to in its refusals. */
export interface PendingPublishesOwner {
  readonly kind: string;
  readonly state: BrokerState;
}

interface PendingPublish {
  request: PublishRequest;
  resolve: (result: PublishResult) => void;
  reject: (error: unknown) => void;
  /** `Date.now()` past which it is refused. */
  deadline: number;
}

/**
 * Publishes waiting while the backend is away: at most `maxPendingPublishes`, each refused with `UNAVAILABLE`
 * `pendingPublishTimeoutMs` after it was queued unless the backend returns first. The timeout is the same for
 * every entry, so the queue is in deadline order and one timer, armed at the head's deadline, refuses each one on
 * time.
 */
export class PendingPublishes {
  readonly #owner: PendingPublishesOwner;
  readonly #maxPending: number;
  readonly #timeoutMs: number;
  readonly #stats: BrokerStats;
  readonly #queue: PendingPublish[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(
    owner: PendingPublishesOwner,
    options: { readonly maxPendingPublishes: number; readonly pendingPublishTimeoutMs: number },
    stats: BrokerStats,
  ) {
    this.#owner = owner;
    this.#maxPending = options.maxPendingPublishes;
    this.#timeoutMs = options.pendingPublishTimeoutMs;
    this.#stats = stats;
  }

  /** Publishes waiting right now. */
  get size(): number {
    return this.#queue.length;
  }

  /** Queues a publish until {@link flush}; refused at once when the queue is full. */
  enqueue(request: PublishRequest): Promise<PublishResult> {
    const queue = this.#queue;
    if (queue.length >= this.#maxPending) {
      this.#stats.refusedPublishes++;
      return Promise.reject(
        new UnisocketError(
          ErrorCode.UNAVAILABLE,
          `the ${this.#owner.kind} broker is ${this.#owner.state} and ${queue.length} publishes are already waiting; retry later`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      queue.push({ request, resolve, reject, deadline: Date.now() + this.#timeoutMs });
      this.#stats.pendingPublishes = queue.length;
      if (this.#timer === undefined) this.#arm();
    });
  }

  /** Hands every queued publish to `publish`, in order, settling each with its answer. */
  flush(publish: (request: PublishRequest) => MaybePromise<PublishResult>): void {
    const queued = this.#queue.splice(0);
    this.#update();
    for (const p of queued) settle(() => publish(p.request), p.resolve, p.reject);
  }

  /** Refuses every queued publish with `UNAVAILABLE` and `message`. */
  refuseAll(message: string): void {
    this.#refuse(this.#queue.length, message);
  }

  /** Arms the timer at the head's deadline. */
  #arm(): void {
    const head = this.#queue[0];
    if (head === undefined) return;
    this.#timer = setTimeout(this.#expire, Math.max(0, head.deadline - Date.now()));
    this.#timer.unref();
  }

  /** Refuses what is past its deadline and re-arms for the next one. */
  readonly #expire = (): void => {
    this.#timer = undefined;
    const queue = this.#queue;
    const now = Date.now();
    let expired = 0;
    while (expired < queue.length && queue[expired]!.deadline <= now) expired++;
    if (expired > 0) this.#refuse(expired, `the ${this.#owner.kind} broker did not come back in time`);
    if (this.#timer === undefined) this.#arm();
  };

  /** Refuses the first `count` queued publishes. */
  #refuse(count: number, message: string): void {
    const refused = this.#queue.splice(0, count);
    this.#update();
    for (const p of refused) {
      this.#stats.refusedPublishes++;
      p.reject(new UnisocketError(ErrorCode.UNAVAILABLE, message));
    }
  }

  /** Keeps the counter current and the timer only while something waits. */
  #update(): void {
    this.#stats.pendingPublishes = this.#queue.length;
    if (this.#queue.length === 0 && this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }
}
