import type { AckFrame, ErrorFrame, UnisocketError } from '@unisocket/core/protocol';

/** How a command that waits for the server's reply is answered. */
export interface PendingReply {
  /** The server acknowledged the command. */
  ack(frame: AckFrame): void;
  /** The server refused it (an `error` frame carrying its ref). */
  refused(error: UnisocketError): void;
  /** No reply within the timeout it was registered with (it is no longer pending). */
  timedOut?(): void;
  /**
   * The connection it was sent on ended before a reply. Return `true` to stay pending (a publish is sent again, with
   * the same ref, on the next connection); otherwise it is dropped.
   */
  detached?(lost: UnisocketError): boolean | void;
}

interface Entry {
  readonly reply: PendingReply;
  readonly timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * The client's commands waiting for a reply, by `ref`: it hands out the refs, times requests out, routes each `ack`
 * and `error` frame to the command it answers, and tells every pending command when the connection ends.
 * @internal
 */
export class RequestTable {
  readonly #pending = new Map<number, Entry>();
  #nextRef = 1;

  /** A fresh ref (unique for the client's lifetime). */
  nextRef(): number {
    return this.#nextRef++;
  }

  /** Registers the reply handler of the command sent with `ref`; with `timeoutMs`, it times out after that long. */
  add(ref: number, reply: PendingReply, timeoutMs?: number): void {
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            if (this.#pending.get(ref)?.reply !== reply) return;
            this.#pending.delete(ref);
            reply.timedOut?.();
          }, timeoutMs);
    this.#pending.set(ref, { reply, timer });
  }

  /** Forgets a pending command (its reply, if one comes, is ignored). */
  delete(ref: number): void {
    const entry = this.#pending.get(ref);
    if (entry === undefined) return;
    clearTimeout(entry.timer);
    this.#pending.delete(ref);
  }

  /** Routes an `ack` to the command it answers; `false` when it answers none. */
  ack(frame: AckFrame): boolean {
    const reply = this.#take(frame.ref);
    reply?.ack(frame);
    return reply !== undefined;
  }

  /** Routes an `error` frame to the command it answers; `false` when it answers none. */
  refused(frame: ErrorFrame, error: UnisocketError): boolean {
    const reply = this.#take(frame.ref);
    reply?.refused(error);
    return reply !== undefined;
  }

  /** The connection ended: every pending command hears of it; those that do not stay pending are dropped. */
  detach(lost: UnisocketError): void {
    for (const [ref, entry] of [...this.#pending]) {
      if (entry.reply.detached?.(lost) === true) continue;
      clearTimeout(entry.timer);
      this.#pending.delete(ref);
    }
  }

  #take(ref: unknown): PendingReply | undefined {
    if (typeof ref !== 'number') return undefined;
    const entry = this.#pending.get(ref);
    if (entry === undefined) return undefined;
    clearTimeout(entry.timer);
    this.#pending.delete(ref);
    return entry.reply;
  }
}
