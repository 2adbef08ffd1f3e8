import {
  type ChannelName,
  type PresenceMember,
  type StreamPosition,
  type UnisocketError,
  channelKind,
} from '@unisocket/core/protocol';
import type { SubscriptionSink } from './subscription';
import type { ChannelMessage, ChannelSnapshot, ChannelStatus } from './types';

/**
 * What the client holds for one channel: its position in the stream, its handles, and its snapshot (rebuilt only
 * after a change).
 * @internal
 */
export class ChannelEntry {
  readonly sinks = new Set<SubscriptionSink>();
  status: ChannelStatus;
  epoch: string | null = null;
  offset: number | null = null;
  recovered: boolean | null = null;
  lastMessage: ChannelMessage | null = null;
  error: UnisocketError | null = null;
  /** The members of a presence channel; `null` for other kinds. */
  members: PresenceMember[] | null;
  /** The `ref` of the subscribe in flight; messages are not accepted until its ack gives the position. */
  ref: number | undefined = undefined;
  /** The position the subscribe in flight recovers from. */
  since: StreamPosition | undefined = undefined;
  retryTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  retryAttempt = 0;
  waiters: { sink: SubscriptionSink; resolve: (s: ChannelSnapshot) => void; reject: (e: unknown) => void }[] = [];
  #snapshot: ChannelSnapshot | undefined = undefined;

  constructor(
    readonly name: ChannelName,
    readonly token: string | undefined,
    since: StreamPosition | undefined,
  ) {
    this.members = channelKind(name) === 'presence' ? [] : null;
    if (since !== undefined) {
      this.epoch = since.epoch;
      this.offset = since.offset;
    }
    this.status = since === undefined ? 'subscribing' : 'recovering';
  }

  /** The position to recover from, when the client has one. */
  get position(): StreamPosition | undefined {
    return this.epoch === null || this.offset === null ? undefined : { epoch: this.epoch, offset: this.offset };
  }

  /**
   * Whether a message at `offset` continues the stream: only while no subscribe is in flight (the ack, and any
   * recovery replay after it, cover what came before) and only past the last offset (the second guard against a
   * duplicate; the server already delivers each message once, in order).
   */
  accepts(offset: number): 'accept' | 'duplicate' | 'early' {
    if (this.ref !== undefined || this.epoch === null) return 'early';
    if (this.offset !== null && offset <= this.offset) return 'duplicate';
    return 'accept';
  }

  /** Marks the snapshot stale. */
  invalidate(): void {
    this.#snapshot = undefined;
  }

  /** The current snapshot: the same object until {@link invalidate}. */
  snapshot(): ChannelSnapshot {
    return (this.#snapshot ??= Object.freeze({
      channel: this.name,
      status: this.status,
      epoch: this.epoch,
      offset: this.offset,
      recovered: this.recovered,
      lastMessage: this.lastMessage,
      error: this.error,
      members: this.members === null ? null : Object.freeze([...this.members]),
    }));
  }
}
