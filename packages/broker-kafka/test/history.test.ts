import type { StreamMessage } from '@unisocket/core';
import { describe, expect, it } from 'vitest';
import { KafkaHistory } from '../src/index';

const EPOCH = 't:0:m1';
function history(options = {}): KafkaHistory {
  const h = new KafkaHistory(options);
  h.setPartitionCount(1);
  h.reset(0, EPOCH, 10); // this node started reading at Kafka offset 10: wire offsets 11 and on are covered
  return h;
}
function consume(h: KafkaHistory, channel: string, kafkaOffset: number): StreamMessage {
  const part = h.partition(0)!;
  const message = {
    channel,
    id: `${channel}-${kafkaOffset}`,
    epoch: part.epoch,
    offset: kafkaOffset + 1,
    ts: Date.now(),
    line: '{}',
  };
  part.next = kafkaOffset + 1;
  h.record(message, 0);
  return message;
}

describe('KafkaHistory', () => {
  it('puts a channel never seen at its partition end: a valid start for a new subscriber', () => {
    const h = history();
    consume(h, 'a', 10);
    consume(h, 'a', 11);
    expect(h.position('b')).toEqual({ epoch: EPOCH, offset: 12 });
    expect(h.position('a')).toEqual({ epoch: EPOCH, offset: 12 });
  });

  it('answers from the window: complete from where this node started reading', () => {
    const h = history();
    consume(h, 'a', 10);
    consume(h, 'b', 11);
    consume(h, 'a', 12);
    const from10 = h.read('a', { epoch: EPOCH, offset: 10 });
    expect(from10).toMatchObject({ complete: true, position: { offset: 13 } });
    expect((from10 as { messages: StreamMessage[] }).messages.map((m) => m.offset)).toEqual([11, 13]);
    expect(h.read('a', { epoch: EPOCH, offset: 11 })).toMatchObject({ complete: true });
    expect(h.read('b', { epoch: EPOCH, offset: 5 })).toMatchObject({ complete: false }); // before this node read
    expect(h.read('c', { epoch: EPOCH, offset: 10 })).toMatchObject({ complete: true, messages: [] }); // nothing of c
    expect(h.read('a', { epoch: 'other', offset: 12 })).toMatchObject({ complete: false });
    // ahead of this node (it lags another node): complete, nothing to replay yet
    expect(h.read('a', { epoch: EPOCH, offset: 99 })).toMatchObject({ complete: true, messages: [] });
  });

  it('checks a position ahead of this node against the partition end: beyond it, it is no position of this epoch', async () => {
    const h = history();
    consume(h, 'a', 10);
    h.setPartitionEnd(async () => 40);
    await expect(h.read('a', { epoch: EPOCH, offset: 30 })).resolves.toMatchObject({ complete: true, messages: [] });
    await expect(h.read('a', { epoch: EPOCH, offset: 41 })).resolves.toMatchObject({ complete: false });
    expect(h.read('a', { epoch: EPOCH, offset: 35 })).toMatchObject({ complete: true }); // known end now: no round trip
  });

  it('is incomplete once a channel lost messages to the size bound, or was dropped by maxChannels', () => {
    const h = history({ size: 2, maxChannels: 2 });
    consume(h, 'a', 10);
    consume(h, 'a', 11);
    consume(h, 'a', 12); // evicts 11 (wire)
    expect(h.read('a', { epoch: EPOCH, offset: 10 })).toMatchObject({ complete: false });
    expect(h.read('a', { epoch: EPOCH, offset: 11 })).toMatchObject({ complete: true });
    consume(h, 'b', 13);
    consume(h, 'c', 14); // drops a (top 13)
    expect(h.window.peek('a')).toBeUndefined();
    expect(h.read('a', { epoch: EPOCH, offset: 12 })).toMatchObject({ complete: false });
    expect(h.read('a', { epoch: EPOCH, offset: 13 })).toMatchObject({ complete: true, messages: [] });
    // a seen again: complete only from after the highest dropped top of its partition
    consume(h, 'a', 20);
    expect(h.read('a', { epoch: EPOCH, offset: 13 })).toMatchObject({ complete: true });
    expect(h.read('a', { epoch: EPOCH, offset: 12 })).toMatchObject({ complete: false });
  });

  it('after the consumer skipped deleted records, nothing before the hole is complete', () => {
    const h = history();
    consume(h, 'a', 10);
    h.skipped(0, 50);
    expect(h.position('a')).toEqual({ epoch: EPOCH, offset: 50 });
    expect(h.read('a', { epoch: EPOCH, offset: 11 })).toMatchObject({ complete: false });
    consume(h, 'a', 50);
    expect(h.read('a', { epoch: EPOCH, offset: 50 })).toMatchObject({ complete: true });
  });

  it('reads back from Kafka only when the window does not cover, and never for records known deleted', async () => {
    const h = history();
    const calls: [string, number, number, number][] = [];
    h.setReadBack(async (channel, partition, after, until) => {
      calls.push([channel, partition, after, until]);
      return { messages: [], complete: true };
    });
    consume(h, 'a', 10);
    expect(h.read('a', { epoch: EPOCH, offset: 10 })).toMatchObject({ complete: true }); // window: sync
    await expect(h.read('a', { epoch: EPOCH, offset: 3 })).resolves.toMatchObject({ complete: true });
    expect(calls).toEqual([['a', 0, 3, 11]]);
    h.skipped(0, 40);
    expect(h.read('a', { epoch: EPOCH, offset: 20 })).toMatchObject({ complete: false });
    expect(calls).toHaveLength(1);
  });
});
