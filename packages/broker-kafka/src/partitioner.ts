/**
 * Kafka's default partitioner for keyed records (Java's `Utils.murmur2`, the same as kafkajs's
 * `DefaultPartitioner`): `toPositive(murmur2(utf8(key))) % partitions`. The broker computes the partition itself
 * so it can answer "which partition, hence which epoch and position" for a channel without a round trip, and sets
 * it explicitly on every record, so producers and readers always agree.
 */
export function partitionOf(key: string, partitions: number): number {
  return (murmur2(key) & 0x7fffffff) % partitions;
}

const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/** 32-bit murmur2 of the UTF-8 bytes of `key`, as a signed int (Java-compatible). */
export function murmur2(key: string): number {
  const bytes = isAscii(key) ? undefined : Buffer.from(key, 'utf8');
  const length = bytes === undefined ? key.length : bytes.length;
  const at = bytes === undefined ? (i: number) => key.charCodeAt(i) : (i: number) => bytes[i]!;
  let h = SEED ^ length;
  const blocks = length >> 2;
  for (let i = 0; i < blocks; i++) {
    const j = i << 2;
    let k = at(j) | (at(j + 1) << 8) | (at(j + 2) << 16) | (at(j + 3) << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  const tail = blocks << 2;
  const rest = length & 3;
  if (rest === 3) h ^= at(tail + 2) << 16;
  if (rest >= 2) h ^= at(tail + 1) << 8;
  if (rest >= 1) {
    h ^= at(tail);
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}
