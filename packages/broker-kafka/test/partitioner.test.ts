import { Partitioners } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { murmur2, partitionOf } from '../src/index';

describe('partitionOf', () => {
  it('matches the partition kafkajs (and Java) choose for the same key', () => {
    const kafkajs = Partitioners.DefaultPartitioner();
    const keys = [
      '',
      'a',
      'ab',
      'abc',
      'abcd',
      'chat.lobby',
      '*',
      'user:42',
      'presence-room',
      'ticker',
      'kafka.events',
      'ümlaut-é',
      'x'.repeat(200),
    ];
    for (let i = 0; i < 500; i++) keys.push(`channel-${i}.${(i * 7919).toString(36)}`);
    for (const partitions of [1, 3, 6, 12, 50]) {
      const partitionMetadata = Array.from({ length: partitions }, (_, p) => ({
        partitionId: p,
        leader: 1,
        partitionErrorCode: 0,
        replicas: [1],
        isr: [1],
      }));
      for (const key of keys) {
        expect(partitionOf(key, partitions), `${key} over ${partitions}`).toBe(
          kafkajs({ topic: 't', partitionMetadata, message: { key, value: null } }),
        );
      }
    }
  });

  it('hashes like Java Utils.murmur2 (known values)', () => {
    // values from org.apache.kafka.common.utils.Utils.murmur2 (see Kafka's UtilsTest)
    expect(murmur2('21')).toBe(-973932308);
    expect(murmur2('foobar')).toBe(-790332482);
    expect(murmur2('a-little-bit-long-string')).toBe(-985981536);
    expect(murmur2('a-little-bit-longer-string')).toBe(-1486304829);
    expect(murmur2('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8')).toBe(-58897971);
    expect(murmur2('abc')).toBe(479470107);
  });
});
