import WebSocket from 'ws';

export type Frame = Record<string, unknown>;

interface ChannelTrack {
  epoch: string;
  last: number;
  offsets: number[];
}

/**
 * A raw `ws` client of protocol v1 that does what a real client does on reconnect — resubscribe every channel with
 * `since` — and checks what it receives: per channel, each message must have the offset after the previous one.
 */
export class TestClient {
  ws: WebSocket;
  readonly frames: Frame[] = [];
  /** Order violations: a duplicate or a gap a client would notice. */
  readonly violations: string[] = [];
  /** Acks of resubscriptions, for checking `recovered`. */
  readonly recoveries: Frame[] = [];
  readonly channels = new Map<string, ChannelTrack>();
  closed: { code: number; reason: string } | undefined;
  #waiters: { test: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  #closeWaiters: ((c: { code: number; reason: string }) => void)[] = [];
  #ref = 0;
  /** Keep every frame (presence tests) or only the bookkeeping (soak). */
  readonly keepFrames: boolean;

  private constructor(url: string, keepFrames: boolean) {
    this.keepFrames = keepFrames;
    this.ws = this.#connect(url);
  }

  static async open(url: string, keepFrames = true): Promise<TestClient> {
    const client = new TestClient(url, keepFrames);
    await client.next((f) => f.type === 'welcome', 10_000);
    return client;
  }

  #connect(url: string): WebSocket {
    const ws = new WebSocket(url);
    this.closed = undefined;
    ws.on('message', (data) => {
      if (ws !== this.ws) return;
      for (const line of data.toString().split('\n')) this.#frame(JSON.parse(line) as Frame);
    });
    ws.on('close', (code, reason) => {
      if (ws !== this.ws) return;
      this.closed = { code, reason: reason.toString() };
      for (const w of this.#closeWaiters.splice(0)) w(this.closed);
    });
    ws.on('error', () => {});
    return ws;
  }

  #frame(frame: Frame): void {
    if (frame.type === 'message') {
      const track = this.channels.get(frame.channel as string);
      if (track !== undefined) {
        const offset = frame.offset as number;
        if (offset !== track.last + 1)
          this.violations.push(`${String(frame.channel)}: got ${offset} after ${track.last}`);
        track.last = offset;
        track.offsets.push(offset);
      }
    } else if (frame.type === 'resync') {
      const track = this.channels.get(frame.channel as string);
      if (track !== undefined) {
        track.epoch = frame.epoch as string;
        track.last = frame.offset as number;
      }
    }
    if (this.keepFrames || frame.type !== 'message') this.frames.push(frame);
    if (this.#waiters.length > 0)
      this.#waiters = this.#waiters.filter((w) => (w.test(frame) ? (w.resolve(frame), false) : true));
  }

  send(command: object): void {
    this.ws.send(JSON.stringify(command));
  }

  next(test: (f: Frame) => boolean, timeoutMs = 10_000): Promise<Frame> {
    const found = this.frames.find(test);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for a frame; last: ${JSON.stringify(this.frames.slice(-3))}`)),
        timeoutMs,
      );
      this.#waiters.push({ test, resolve: (f) => (clearTimeout(timer), resolve(f)) });
    });
  }

  async request(command: Frame, timeoutMs = 10_000): Promise<Frame> {
    const ref = ++this.#ref;
    const reply = this.next((f) => (f.type === 'ack' || f.type === 'error') && f.ref === ref, timeoutMs);
    this.send({ ...command, ref });
    const frame = await reply;
    // answered frames are not needed again; drop them so `next` stays cheap in long runs
    if (!this.keepFrames) this.frames.length = 0;
    return frame;
  }

  /** Subscribes and starts tracking the channel's order from the ack's position. */
  async subscribe(channel: string): Promise<Frame> {
    const ack = await this.request({ type: 'subscribe', channel });
    if (ack.type === 'ack')
      this.channels.set(channel, { epoch: ack.epoch as string, last: ack.offset as number, offsets: [] });
    return ack;
  }

  /** Drops the connection without a goodbye and reconnects to `url`, resubscribing every channel with `since`. */
  async reconnect(url: string): Promise<void> {
    this.ws.terminate();
    this.ws = this.#connect(url);
    await this.next((f) => f.type === 'welcome', 10_000);
    await Promise.all(
      [...this.channels].map(async ([channel, track]) => {
        const ack = await this.request({
          type: 'subscribe',
          channel,
          since: { epoch: track.epoch, offset: track.last },
        });
        this.recoveries.push(ack);
        if (ack.type !== 'ack') {
          this.violations.push(`${channel}: resubscribe failed: ${JSON.stringify(ack)}`);
        } else if (ack.recovered !== true) {
          this.violations.push(`${channel}: not recovered from ${track.last}: ${JSON.stringify(ack)}`);
          track.epoch = ack.epoch as string;
          track.last = ack.offset as number;
        }
      }),
    );
  }

  messages(channel?: string): Frame[] {
    return this.frames.filter((f) => f.type === 'message' && (channel === undefined || f.channel === channel));
  }

  presence(channel: string): string[] {
    return this.frames
      .filter((f) => f.type === 'presence' && f.channel === channel)
      .map((f) => `${String(f.action)}:${(f.member as { userId: string }).userId}`);
  }

  waitClose(timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
    if (this.closed !== undefined) return Promise.resolve(this.closed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for close')), timeoutMs);
      this.#closeWaiters.push((c) => (clearTimeout(timer), resolve(c)));
    });
  }

  close(): void {
    this.ws.close();
  }

  terminate(): void {
    this.ws.terminate();
  }
}
