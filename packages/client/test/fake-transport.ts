import type { ClientCommand, ServerFrame } from '@unisocket/core/protocol';
import type { Transport, TransportFactory, TransportHandlers } from '../src/index';

/** One fake connection: what the client sent, and a way to play the server. */
export class FakeConnection implements Transport {
  readonly name = 'fake';
  readonly sent: ClientCommand[] = [];
  /** Frames (text) as the client batched them. */
  readonly batches: ClientCommand[][] = [];
  closed: { code: number; reason: string } | undefined;

  constructor(
    readonly url: string,
    readonly handlers: TransportHandlers,
  ) {}

  send(commands: readonly { command: ClientCommand }[]): void {
    const batch = commands.map((c) => c.command);
    this.batches.push(batch);
    this.sent.push(...batch);
  }

  close(code: number, reason: string): void {
    this.closed ??= { code, reason };
  }

  /** The server sends frames. */
  push(...frames: object[]): void {
    for (const frame of frames) this.handlers.onFrame(frame as ServerFrame);
  }

  welcome(overrides: object = {}): void {
    this.handlers.onOpen();
    this.push({
      type: 'welcome',
      connectionId: `conn-${this.url}`,
      protocol: 1,
      heartbeatMs: 25_000,
      userId: null,
      ...overrides,
    });
  }

  /** The server (or the network) ends the connection. */
  drop(code = 1006, reason = ''): void {
    this.handlers.onClose(code, reason);
  }

  /** The last command of a type. */
  last<T extends ClientCommand['type']>(type: T): Extract<ClientCommand, { type: T }> {
    for (let i = this.sent.length - 1; i >= 0; i--) {
      const cmd = this.sent[i]!;
      if (cmd.type === type) return cmd as Extract<ClientCommand, { type: T }>;
    }
    throw new Error(`no ${type} command was sent; sent: ${JSON.stringify(this.sent)}`);
  }
}

/** A transport factory whose connections the test drives. */
export function fakeTransport(): { factory: TransportFactory; connections: FakeConnection[] } {
  const connections: FakeConnection[] = [];
  return {
    connections,
    factory: (url, handlers) => {
      const conn = new FakeConnection(url, handlers);
      connections.push(conn);
      return conn;
    },
  };
}

/** Lets promises and microtasks (the client's batched sends and store notifications) run. */
export const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 0));
