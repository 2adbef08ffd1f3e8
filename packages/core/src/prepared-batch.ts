import { exceptedConnection } from './message';
import type { ChannelName } from './protocol/types';

/**
 * A batch of message lines for one channel, prepared once per flush and written to every subscriber.
 * Transports cache their encoding of it (a WebSocket frame, a Socket.IO packet) in {@link encoded} so it is
 * built once per batch, never per subscriber.
 */
export class PreparedBatch {
  /** Per-transport encodings, filled lazily by the transports. */
  readonly encoded: Record<string, unknown> = {};
  /** @internal `coalesce-latest` keys of the lines, computed once when a subscriber is backed up */
  keys: (string | number | undefined)[] | undefined = undefined;
  /** @internal UTF-8 sizes of the lines, computed once when a subscriber is backed up */
  lineBytes: number[] | undefined = undefined;
  /**
   * Per line, the exclusion key of the connection it must not reach (a client event is not echoed to its sender; see
   * `Connection.exceptKeys`), or `undefined` when no line of the batch excludes anyone: the common case costs nothing
   * per subscriber but this one field read.
   */
  except: (string | undefined)[] | undefined = undefined;
  #text: string | undefined;
  #bytes = -1;

  constructor(
    readonly channel: ChannelName,
    /** The JSON text of each frame in the batch. */
    readonly lines: readonly string[],
  ) {}

  /** Finds the lines that exclude a connection (see {@link except}); called once when the batch is built. */
  markExceptions(): this {
    const lines = this.lines;
    for (let i = 0; i < lines.length; i++) {
      const id = exceptedConnection(lines[i]!, this.channel);
      if (id !== undefined) (this.except ??= new Array<string | undefined>(lines.length))[i] = id;
    }
    return this;
  }

  /**
   * The batch as a connection with these exclusion keys (`Connection.exceptKeys`) receives it: this one, or (for a
   * connection some lines exclude) one without them.
   */
  forConnection(connection: { readonly exceptKeys: readonly string[] }): PreparedBatch {
    const except = this.except;
    if (except === undefined) return this;
    const keys = connection.exceptKeys;
    if (!except.some((key) => key !== undefined && keys.includes(key))) return this;
    return new PreparedBatch(
      this.channel,
      this.lines.filter((_, i) => {
        const key = except[i];
        return key === undefined || !keys.includes(key);
      }),
    );
  }

  /** The number of frames in the batch. */
  get count(): number {
    return this.lines.length;
  }

  /** The batch as one text frame: the lines joined with `\n`. */
  get text(): string {
    return (this.#text ??= this.lines.length === 1 ? this.lines[0]! : this.lines.join('\n'));
  }

  /** The UTF-8 size of {@link text}. Transports that encode the text set it to avoid measuring twice. */
  get byteLength(): number {
    if (this.#bytes < 0) this.#bytes = Buffer.byteLength(this.text);
    return this.#bytes;
  }

  set byteLength(bytes: number) {
    this.#bytes = bytes;
  }
}
