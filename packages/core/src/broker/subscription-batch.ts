import type { ChannelName } from '../protocol/types';
import { type MaybePromise, isPromiseLike } from '../util';

/** The backend side of subscriptions, as the broker that owns the batch exposes it. */
export interface SubscriptionBackend {
  /** `true` when changes are collected for one tick and sent as one batch; `false` applies each at once. */
  readonly batchSubscriptions: boolean;
  /** Subscribes the node to channels at the backend (`Broker.doSubscribe`). */
  subscribe(channels: ChannelName[]): MaybePromise<void>;
  /** Unsubscribes the node from channels at the backend (`Broker.doUnsubscribe`). */
  unsubscribe(channels: ChannelName[]): MaybePromise<void>;
  /** `true` while the node still wants the channel (it has a cursor): a failed subscribe of it stays active. */
  wants(channel: ChannelName): boolean;
}

/**
 * The node's subscriptions at the backend: the channels it is subscribed to, and the changes waiting for the next
 * batch (a channel subscribed and unsubscribed within one tick costs nothing). Batches run one after the other so
 * a subscribe never overtakes an earlier unsubscribe.
 */
export class SubscriptionBatch {
  readonly #backend: SubscriptionBackend;
  /** Changes waiting for the next batch: channel → wanted. */
  readonly #changes = new Map<ChannelName, boolean>();
  readonly #active = new Set<ChannelName>();
  #nextSync: Promise<void> | undefined;
  #lastSync: Promise<void> = Promise.resolve();

  constructor(backend: SubscriptionBackend) {
    this.#backend = backend;
  }

  /** Channels the node is subscribed to at the backend. */
  get active(): ReadonlySet<ChannelName> {
    return this.#active;
  }

  /**
   * Records that the node wants (or no longer wants) a channel and applies it: at once, or in the next batch.
   * @returns `undefined` when it was applied synchronously, else when the batch that carries it is done
   */
  change(channel: ChannelName, wanted: boolean): Promise<void> | undefined {
    this.#changes.set(channel, wanted);
    return this.#sync();
  }

  /** Forgets a channel without telling the backend (the broker is closed). */
  forget(channel: ChannelName): void {
    this.#changes.delete(channel);
    this.#active.delete(channel);
  }

  #sync(): Promise<void> | undefined {
    if (!this.#backend.batchSubscriptions) return this.#apply();
    if (this.#nextSync === undefined) {
      this.#nextSync = new Promise<void>((resolve, reject) => {
        setImmediate(() => {
          this.#nextSync = undefined;
          const run = this.#lastSync.then(() => this.#apply());
          this.#lastSync = run.then(noop, noop);
          run.then(resolve, reject);
        });
      });
    }
    return this.#nextSync;
  }

  #apply(): Promise<void> | undefined {
    const backend = this.#backend;
    const add: ChannelName[] = [];
    const remove: ChannelName[] = [];
    for (const [channel, wanted] of this.#changes) {
      if (wanted && !this.#active.has(channel)) {
        this.#active.add(channel);
        add.push(channel);
      } else if (!wanted && this.#active.has(channel)) {
        this.#active.delete(channel);
        remove.push(channel);
      }
    }
    this.#changes.clear();
    const rollback = (error: unknown): never => {
      for (const channel of add) if (!backend.wants(channel)) this.#active.delete(channel);
      throw error;
    };
    const unsubscribed = remove.length > 0 ? backend.unsubscribe(remove) : undefined;
    const subscribe = (): MaybePromise<void> => (add.length > 0 ? backend.subscribe(add) : undefined);
    if (isPromiseLike(unsubscribed)) {
      return unsubscribed.then(subscribe).then(noop, rollback);
    }
    let subscribed: MaybePromise<void>;
    try {
      subscribed = subscribe();
    } catch (error) {
      rollback(error);
    }
    return isPromiseLike(subscribed!) ? subscribed.then(noop, rollback) : undefined;
  }
}

function noop(): void {}
