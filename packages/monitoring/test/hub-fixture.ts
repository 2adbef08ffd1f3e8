import {
  Hub,
  type Connection,
  type HubOptions,
  type PreparedBatch,
  type ServerFrame,
  type TransportSocket,
} from '@unisocket/core';

/** A socket that keeps what the Hub writes (the Hub and broker under it are real). */
export class RecordingSocket implements TransportSocket {
  bufferedBytes = 0;
  frames: unknown[] = [];
  closedWith: number | undefined;
  sendFrame(frame: ServerFrame): void {
    this.frames.push(frame);
  }
  sendBatch(batch: PreparedBatch): void {
    for (const line of batch.lines) this.frames.push(JSON.parse(line));
  }
  close(code: number): void {
    this.closedWith ??= code;
  }
}

export const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const hubs: Hub[] = [];
export async function startHub(options: HubOptions = {}): Promise<Hub> {
  const hub = new Hub(options);
  await hub.start();
  hubs.push(hub);
  return hub;
}
export async function closeHubs(): Promise<void> {
  for (const hub of hubs.splice(0)) {
    hub.close();
    await hub.broker.close();
  }
}

export function connect(
  hub: Hub,
  transport = 'native',
  userId?: string,
): { conn: Connection; socket: RecordingSocket } {
  const socket = new RecordingSocket();
  const conn = hub.addConnection({
    socket,
    transport,
    ip: '127.0.0.1',
    ...(userId === undefined ? {} : { identity: { userId } }),
  });
  return { conn, socket };
}

export function send(hub: Hub, conn: Connection, command: object): void {
  hub.handleText(conn, JSON.stringify(command));
}
