import { afterEach, describe, expect, it } from 'vitest';
import { type Connection, Hub, MemoryBroker, MemoryBus } from '../src/index';
import { FakeSocket, tick } from './fake-socket';

const hubs: Hub[] = [];
afterEach(() => {
  for (const hub of hubs.splice(0)) hub.close();
});

async function hubOn(bus?: MemoryBus): Promise<Hub> {
  const hub = new Hub({ broker: new MemoryBroker(bus === undefined ? {} : { bus }) });
  await hub.start();
  hubs.push(hub);
  return hub;
}

async function subscriber(hub: Hub, ...channels: string[]): Promise<Connection> {
  const conn = hub.addConnection({ socket: new FakeSocket(), transport: 'native', ip: '127.0.0.1' });
  for (const [i, channel] of channels.entries()) {
    hub.handleText(conn, JSON.stringify({ type: 'subscribe', channel, ref: i + 1 }));
  }
  await tick();
  return conn;
}

describe('Broker.subscriberCounts', () => {
  it("sums every Hub's counts on a shared MemoryBus", async () => {
    const bus = new MemoryBus();
    const a = await hubOn(bus);
    const b = await hubOn(bus);
    await subscriber(a, 'news', 'chat');
    const onB = await subscriber(b, 'news');
    await subscriber(b, 'news', 'sport');
    for (const hub of [a, b]) {
      const counts = await hub.broker.subscriberCounts();
      expect(counts.get('news')).toBe(3);
      expect(counts.get('chat')).toBe(1);
      expect(counts.get('sport')).toBe(1);
    }
    expect(await a.broker.subscriberCounts(['news', 'nothing'])).toEqual(new Map([['news', 3]]));
    expect(await a.broker.subscriberCounts({ prefix: 's' })).toEqual(new Map([['sport', 1]]));
    b.removeConnection(onB);
    await tick();
    expect((await a.broker.subscriberCounts(['news'])).get('news')).toBe(2);
  });

  it("a broker of its own answers its Hub's counts only", async () => {
    const a = await hubOn();
    const b = await hubOn();
    await subscriber(a, 'news');
    await subscriber(b, 'news');
    expect(await a.broker.subscriberCounts(['news'])).toEqual(new Map([['news', 1]]));
  });
});
