import type { HistoryRead, HistoryStore } from '../history';
import type { StreamMessage } from '../message';
import type { ChannelName, StreamPosition } from '../protocol/types';
import { isPromiseLike, type MaybePromise } from '../util';

/** Counters of {@link HistoryReads}. */
export interface HistoryReadStats {
  /** History reads asked for by recovering subscriptions. */
  requests: number;
  /** History reads issued to the store. */
  reads: number;
  /** Requests answered by a read issued for another subscription (one read, many recovering clients). */
  merged: number;
}

type Done = (read: HistoryRead) => void;
type Fail = (error: unknown) => void;

interface Waiter {
  readonly since: StreamPosition;
  /** The channel's flushed offset when the waiter joined: what the read must cover to leave no gap at the seam. */
  readonly flushed: number;
  /** Joined a read already on its way: it may have missed what the channel flushed since the read was issued. */
  readonly late: boolean;
  readonly done: Done;
  readonly fail: Fail;
}

interface Flight {
  readonly epoch: string;
  /** The read's position: the lowest `since` of the waiters gathered before it was issued. */
  readonly from: number;
  readonly waiters: Waiter[];
}

/** A channel's last merged answer, kept briefly: requests right after it are answered from it when it covers them. */
interface Recent {
  readonly from: number;
  readonly read: HistoryRead;
  readonly at: number;
}

/** How long a channel's last answer may serve later requests, in ms (it must also cover what was flushed). */
const RECENT_MS = 1_000;
/** Channels whose last answer is kept (the oldest is forgotten first). */
const RECENT_CHANNELS = 1_024;
/** The largest answer kept, in messages (a client far behind does not pin a long replay in memory). */
const RECENT_MAX_MESSAGES = 1_000;

interface ChannelReads {
  /** The read on its way, if any: later requests of the same epoch at or past `from` join it. */
  flight: Flight | undefined;
  /** Requests that could not join the flight: they share the next read, from the lowest of their positions. */
  next: Waiter[];
  /** A read is due at the end of this turn of the event loop (the requests of the turn gather for it). */
  scheduled: boolean;
}

/**
 * Merges identical history reads: during a reconnect storm many clients of one channel recover at once, from nearly
 * the same position. Per channel at most one merged read is on its way; a request of the same epoch at or past its
 * position joins it (its answer is sliced from the shared one), the others wait for the next read, which starts from
 * the lowest position among them when the current one returns. A storm then costs about two reads per channel instead
 * of one per client.
 *
 * The seam (exactly once, in order) holds: a request that joined a read before it was issued gets what the store held
 * at or after the moment it joined, as if it had read alone. One that joined a read already on its way is answered
 * from it only when the read covers what the channel had flushed when it joined (`position.offset` at or past it,
 * complete, same epoch); otherwise it takes the next read. Once the store has answered asynchronously (a networked
 * store), a channel's first request waits for the end of the current turn of the event loop (`setImmediate`), so the
 * subscribes that arrived in the same turn share its read; and a channel's last answer serves the requests of the
 * next second under the late joiner's rule (it covers what the channel flushed, same epoch, complete), so a storm
 * spread over a reconnect window still costs few reads. A store that answers synchronously (the memory history)
 * never has a read on its way: nothing is merged, kept or waits.
 */
export class HistoryReads {
  readonly stats: HistoryReadStats = { requests: 0, reads: 0, merged: 0 };
  readonly #history: () => HistoryStore;
  readonly #channels = new Map<ChannelName, ChannelReads>();
  /** The store answered with a promise: reads are gathered per turn of the event loop. */
  #async = false;
  /** Each channel's last complete answer (insertion order: the oldest first). */
  readonly #recent = new Map<ChannelName, Recent>();

  /** @param history the store to read (asked on every read: a broker's store may be set after the Hub is built) */
  constructor(history: () => HistoryStore) {
    this.#history = history;
  }

  /** Channels with a merged read on its way or waiting. */
  get inFlight(): number {
    return this.#channels.size;
  }

  /**
   * Reads the channel's history after `since` for a subscription that joined the channel's syncing set when the
   * channel had flushed `flushed`. `done` or `fail` is called once, synchronously when the store answers so.
   */
  read(channel: ChannelName, since: StreamPosition, flushed: number, done: Done, fail: Fail): void {
    this.stats.requests++;
    if (this.#recent.size > 0 && this.#fromRecent(channel, since, flushed, done)) return;
    let state = this.#channels.get(channel);
    const flight = state?.flight;
    if (flight !== undefined) {
      const late = flight.epoch === since.epoch && flight.from <= since.offset;
      const waiter: Waiter = { since, flushed, late, done, fail };
      if (late) flight.waiters.push(waiter);
      else state!.next.push(waiter);
      return;
    }
    if (state === undefined) {
      state = { flight: undefined, next: [], scheduled: false };
      this.#channels.set(channel, state);
    }
    state.next.push({ since, flushed, late: false, done, fail });
    if (!this.#async) {
      this.#issue(channel, state);
    } else if (!state.scheduled) {
      state.scheduled = true;
      const gathered = state;
      setImmediate(() => {
        gathered.scheduled = false;
        if (gathered.flight === undefined) this.#issue(channel, gathered);
      });
    }
  }

  /** Starts the next merged read of a channel from the lowest position of the waiters of the first one's epoch. */
  #issue(channel: ChannelName, state: ChannelReads): void {
    const waiting = state.next;
    if (waiting.length === 0) {
      if (state.flight === undefined && !state.scheduled) this.#channels.delete(channel);
      return;
    }
    const epoch = waiting[0]!.since.epoch;
    const waiters: Waiter[] = [];
    const rest: Waiter[] = [];
    let from = Number.POSITIVE_INFINITY;
    for (const w of waiting) {
      if (w.since.epoch !== epoch) {
        rest.push(w);
        continue;
      }
      waiters.push(w);
      if (w.since.offset < from) from = w.since.offset;
    }
    state.next = rest;
    const flight: Flight = { epoch, from, waiters };
    state.flight = flight;
    this.stats.reads++;
    let value: MaybePromise<HistoryRead>;
    try {
      value = this.#history().read(channel, { epoch, offset: from });
    } catch (error) {
      this.#failed(channel, state, flight, error);
      return;
    }
    if (isPromiseLike(value)) {
      this.#async = true;
      value.then(
        (read) => this.#answered(channel, state, flight, read, true),
        (error: unknown) => this.#failed(channel, state, flight, error),
      );
    } else {
      this.#answered(channel, state, flight, value, false);
    }
  }

  /** Answers from the channel's last answer when it covers the request (as a late joiner); `false` otherwise. */
  #fromRecent(channel: ChannelName, since: StreamPosition, flushed: number, done: Done): boolean {
    const recent = this.#recent.get(channel);
    if (recent === undefined) return false;
    if (Date.now() - recent.at > RECENT_MS) {
      this.#recent.delete(channel);
      return false;
    }
    if (recent.read.position.epoch !== since.epoch || recent.from > since.offset) return false;
    const answer = answerFor(recent.read, recent.from, { since, flushed, late: true });
    if (typeof answer === 'string') return false;
    this.stats.merged++;
    done(answer);
    return true;
  }

  #remember(channel: ChannelName, from: number, read: HistoryRead): void {
    if (!read.complete || read.messages.length > RECENT_MAX_MESSAGES) return;
    const recent = this.#recent;
    recent.delete(channel);
    recent.set(channel, { from, read, at: Date.now() });
    if (recent.size > RECENT_CHANNELS) recent.delete(recent.keys().next().value as ChannelName);
  }

  #answered(channel: ChannelName, state: ChannelReads, flight: Flight, read: HistoryRead, async: boolean): void {
    if (state.flight === flight) state.flight = undefined;
    if (async && read.position.epoch === flight.epoch) this.#remember(channel, flight.from, read);
    const answers: [Waiter, HistoryRead][] = [];
    const solo: Waiter[] = [];
    const again: Waiter[] = [];
    for (const w of flight.waiters) {
      const answer = answerFor(read, flight.from, w);
      if (answer === 'solo') solo.push(w);
      else if (answer === 'again') again.push(w);
      else answers.push([w, answer]);
    }
    // waiters that must read again go first: they have waited longest
    if (again.length > 0) state.next = [...again, ...state.next];
    this.#issue(channel, state);
    // one read answered them all: every answer past the first is a read saved
    if (answers.length > 1) this.stats.merged += answers.length - 1;
    for (const [w, answer] of answers) w.done(answer);
    for (const w of solo) this.#readAlone(channel, w);
  }

  #failed(channel: ChannelName, state: ChannelReads, flight: Flight, error: unknown): void {
    if (state.flight === flight) state.flight = undefined;
    this.#issue(channel, state);
    for (const w of flight.waiters) w.fail(error);
  }

  /** A read of its own, not merged (a position the shared answer cannot tell about). */
  #readAlone(channel: ChannelName, w: Waiter): void {
    this.stats.reads++;
    let value: MaybePromise<HistoryRead>;
    try {
      value = this.#history().read(channel, w.since);
    } catch (error) {
      w.fail(error);
      return;
    }
    if (isPromiseLike(value)) value.then(w.done, w.fail);
    else w.done(value);
  }
}

/**
 * What a waiter gets from a read from `from`: its part of the answer; `'again'` when it must take the next merged
 * read (it joined late and the read does not cover what the channel flushed by then); `'solo'` when only a read
 * from its own position can tell (the shared one is incomplete, or the waiter is past the store's top).
 */
function answerFor(
  read: HistoryRead,
  from: number,
  w: Pick<Waiter, 'since' | 'flushed' | 'late'>,
): HistoryRead | 'again' | 'solo' {
  const after = w.since.offset;
  // another epoch: whatever the position, the waiter's stream is gone; a read of its own says the same
  if (read.position.epoch !== w.since.epoch) return after === from ? read : { ...read, messages: [] };
  if (w.late && !(read.complete && read.position.offset >= Math.max(w.flushed, after))) return 'again';
  if (after === from) return read;
  if (!read.complete || after > read.position.offset) return 'solo';
  return { position: read.position, messages: after_(read.messages, after), complete: true };
}

/** The messages with an offset greater than `after` (the list is in offset order). */
function after_(messages: StreamMessage[], after: number): StreamMessage[] {
  let lo = 0;
  let hi = messages.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (messages[mid]!.offset <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? messages : messages.slice(lo);
}
