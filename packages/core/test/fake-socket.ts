import type { PreparedBatch, ServerFrame, TransportSocket } from '../src/index';

/** A TransportSocket that records what the Hub writes, parsed as a client would. */
export class FakeSocket implements TransportSocket {
  frames: Record<string, unknown>[] = [];
  rawWrites: string[] = [];
  bufferedBytes = 0;
  closedWith: { code: number; reason: string } | undefined;

  sendFrame(frame: ServerFrame): void {
    const text = JSON.stringify(frame);
    this.rawWrites.push(text);
    this.frames.push(JSON.parse(text) as Record<string, unknown>);
  }

  sendBatch(batch: PreparedBatch): void {
    this.rawWrites.push(batch.text);
    for (const line of batch.text.split('\n')) this.frames.push(JSON.parse(line) as Record<string, unknown>);
  }

  close(code: number, reason: string): void {
    this.closedWith ??= { code, reason };
  }

  of(type: string): Record<string, unknown>[] {
    return this.frames.filter((f) => f.type === type);
  }

  messages(channel?: string): Record<string, unknown>[] {
    return this.frames.filter((f) => f.type === 'message' && (channel === undefined || f.channel === channel));
  }

  last(): Record<string, unknown> | undefined {
    return this.frames[this.frames.length - 1];
  }
}

export const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
