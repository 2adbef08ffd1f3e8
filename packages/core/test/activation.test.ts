import { afterEach, describe, expect, it } from 'vitest';
import { Hub, MemoryBroker, MemoryBus, type Connection, type StreamPosition } from '../src/index';
import { runActivationRace } from './activation-race';
import { FakeSocket, tick } from './fake-socket';

/**
 * A memory broker that behaves like a network backend while a channel activates: the subscription takes a round
 * trip and the position read is asynchronous, so messages published meanwhile arrive before the position does and
 * are held by the broker. That is the window in which a subscriber used to miss a message: the broker dispatched
 * what it held before the Hub had marked the channel active (the Hub dropped them), and the Hub then activated at
 * a position read before those messages.
 */
class NetworkLikeBroker extends MemoryBroker {
  protected override readonly batchSubscriptions = true;

  protected override doSubscribe(): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, 2));
  }
}

const hubs: Hub[] = [];
afterEach(() => {
  for (const hub of hubs.splice(0)) hub.close();
});

async function hubOn(bus: MemoryBus, network: boolean): Promise<Hub> {
  const broker = network ? new NetworkLikeBroker({ bus }) : new MemoryBroker({ bus });
  if (network) {
    // the position read is a round trip too: resolve it after the messages published meanwhile were received
    const history = bus.history;
    const position = history.position.bind(history);
    Object.defineProperty(broker, 'history', {
      get: () =>
        new Proxy(history, {
          get: (target, key) =>
            key === 'position'
              ? (channel: string) =>
                  new Promise<StreamPosition>((resolve) => {
                    const p = position(channel);
                    setTimeout(() => resolve(p), 1);
                  })
              : Reflect.get(target, key),
        }),
    });
  }
  const hub = new Hub({ broker, presence: { leaveGraceMs: 0 } });
  await hub.start();
  hubs.push(hub);
  return hub;
}

function connect(hub: Hub): { conn: Connection; socket: FakeSocket } {
  const socket = new FakeSocket();
  return { conn: hub.addConnection({ socket, transport: 'native', ip: '127.0.0.1' }), socket };
}

describe('channel activation under a publish stream', () => {
  for (const publisherOnSameNode of [true, false]) {
    it(`a subscriber that joins while the channel activates misses nothing (publisher on ${publisherOnSameNode ? 'the same' : 'another'} node)`, async () => {
      const bus = new MemoryBus({ history: { size: 10_000 } });
      const x = await hubOn(bus, true);
      const y = await hubOn(bus, false);
      const result = await runActivationRace({
        subscriberHub: x,
        publisherHub: publisherOnSameNode ? x : y,
        rounds: 30,
        prefix: 'race',
        leadMs: 1,
        tailMs: 15,
        settleMs: 10,
      });
      expect(result.failures).toEqual([]);
      expect(result.subscriptions).toBe(30 * 5);
    }, 60_000);
  }

  it('the memory broker (synchronous activation) holds the same rule', async () => {
    const bus = new MemoryBus();
    const x = await hubOn(bus, false);
    for (let round = 0; round < 20; round++) {
      const channel = `mem.${round}`;
      for (let i = 0; i < 3; i++) x.publish(channel, 'e', i);
      const c = connect(x);
      x.handleText(c.conn, JSON.stringify({ type: 'subscribe', channel, ref: 1 }));
      for (let i = 0; i < 3; i++) x.publish(channel, 'e', i);
      await tick();
      expect(c.socket.of('ack')[0]).toMatchObject({ offset: 3 });
      expect(c.socket.messages(channel)).toHaveLength(3);
      x.removeConnection(c.conn);
    }
  });
});
