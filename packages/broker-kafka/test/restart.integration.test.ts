import { ensureKafka, requireService, restartKafka, startKafka, stopKafka } from '@unisocket/services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerState, isUnisocketError } from '@unisocket/core';
import { KafkaBroker } from '../src/index';
import { recorder, request, sleep, unique, waitFor } from './helpers';

// The shared broker at 9092 tells whether Kafka can run here (jars, Java) — asked before switching ports.
const kafkaUp = await requireService('kafka');

// This suite stops and restarts Kafka, so it runs a broker of its own on another port (never the shared 9092,
// which other suites and worktrees use at the same time).
process.env.KAFKA_PORT = process.env.UNISOCKET_TEST_KAFKA_RESTART_PORT ?? '19192';
process.env.KAFKA_CONTROLLER_PORT = String(Number(process.env.KAFKA_PORT) + 1);

describe.skipIf(!kafkaUp)('KafkaBroker while Kafka restarts (private broker)', () => {
  let brokers: string[];
  const nodes: KafkaBroker[] = [];

  beforeAll(async () => {
    ({ brokers } = await ensureKafka({ log: () => {} }));
  });

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.close()));
    await stopKafka();
  });

  it('survives a Kafka restart mid-stream: degraded then ready, bounded queue, delivery resumes in order without duplicates', async () => {
    const topic = unique('restart');
    const options = {
      brokers,
      topic,
      partitions: 2,
      unavailableAfterMs: 1_500,
      maxPendingPublishes: 40,
      pendingPublishTimeoutMs: 60_000,
      connectionTimeoutMs: 1_000,
    };
    const publisher = new KafkaBroker({ ...options, nodeId: 'pub' });
    const subscriber = new KafkaBroker({ ...options, nodeId: 'sub' });
    nodes.push(publisher, subscriber);
    const host = recorder();
    publisher.attach(recorder());
    subscriber.attach(host);
    const states: Record<string, BrokerState[]> = { pub: [], sub: [] };
    const errors: Error[] = [];
    for (const b of [publisher, subscriber]) {
      b.on('state', (state, detail) => {
        states[b.nodeId]!.push(state);
        if (process.env.DEBUG_RESTART) console.log(Date.now() % 1e6, b.nodeId, state, detail);
      });
      b.on('error', (e) => errors.push(e));
    }
    await publisher.start();
    await subscriber.start();
    await subscriber.subscribe('stream');

    const acked = new Map<number, number>(); // data -> offset
    const refused: number[] = [];
    const other: unknown[] = [];
    let maxPending = 0;
    let stop = false;
    let i = 0;
    const pending: Promise<void>[] = [];
    const publishing = (async () => {
      while (!stop) {
        const data = i++;
        try {
          const result = publisher.publish(request('stream', { data }));
          pending.push(
            Promise.resolve(result).then(
              (r) => {
                if (process.env.DEBUG_RESTART && data % 50 === 0) console.log(Date.now() % 1e6, 'ack', data);
                acked.set(data, r.offset);
              },
              (e: unknown) => void (isUnisocketError(e) && e.code === 'UNAVAILABLE' ? refused.push(data) : other.push(e)),
            ),
          );
        } catch (e) {
          if (isUnisocketError(e) && e.code === 'UNAVAILABLE') refused.push(data);
          else other.push(e);
        }
        maxPending = Math.max(maxPending, publisher.stats.pendingPublishes + publisher.producerStats.queued);
        await sleep(20);
      }
    })();

    await waitFor(() => host.got.length >= 20, 20_000, 'the stream to flow');
    const outageStarted = Date.now();
    if (process.env.DEBUG_RESTART) console.log(Date.now() % 1e6, 'restart at', i);
    await restartKafka({ log: () => {} });
    if (process.env.DEBUG_RESTART) console.log(Date.now() % 1e6, 'restarted at', i);
    const outageMs = Date.now() - outageStarted;
    await waitFor(() => publisher.state === 'ready' && subscriber.state === 'ready', 60_000, 'both nodes ready again');
    const afterRecovery = i;
    await waitFor(() => [...acked.keys()].some((d) => d > afterRecovery + 20), 30_000, 'publishes acknowledged after the restart');
    stop = true;
    await publishing;
    await Promise.all(pending);

    // health went degraded while Kafka was away, and came back
    for (const id of ['pub', 'sub']) {
      expect(states[id]).toContain('degraded');
      expect(states[id]!.at(-1)).toBe('ready');
    }
    // every publish was acknowledged or refused with UNAVAILABLE (the queue is bounded); nothing else
    expect(other).toEqual([]);
    expect(acked.size + refused.length).toBe(i);
    expect(maxPending).toBeLessThanOrEqual(2 * options.maxPendingPublishes);
    // the subscriber got exactly what was acknowledged: once each, in publish order, offsets increasing
    await waitFor(() => host.got.length >= acked.size, 30_000, `the ${acked.size} acknowledged messages`);
    await sleep(500);
    const got = host.got.map((m) => (JSON.parse(m.line) as { data: number }).data);
    expect(got).toEqual([...acked.keys()].sort((a, b) => a - b));
    expect(host.got.map((m) => m.offset)).toEqual(got.map((d) => acked.get(d)));
    expect(new Set(host.got.map((m) => m.id)).size).toBe(host.got.length);
    expect(subscriber.stats.duplicates).toBe(0);
    expect(host.resyncs).toEqual([]);
    console.log(
      `[restart] outage ${outageMs} ms; ${i} publishes: ${acked.size} acknowledged, ${refused.length} refused (UNAVAILABLE); ` +
        `max waiting ${maxPending}; producer ${JSON.stringify(publisher.producerStats)}; consumer crashes ${subscriber.kafkaStats.consumerCrashes}; ` +
        `errors reported ${errors.length}`,
    );
  });

  it('shuts down within its bounds while Kafka is away: what waits is refused with UNAVAILABLE, nothing hangs', async () => {
    await startKafka({ log: () => {} });
    const broker = new KafkaBroker({ brokers, topic: unique('close'), partitions: 1, unavailableAfterMs: 1_000, closeTimeoutMs: 2_000, connectionTimeoutMs: 500 });
    broker.attach(recorder());
    broker.on('error', () => {});
    await broker.start();
    await stopKafka();
    await waitFor(() => broker.state === 'degraded', 20_000, 'degraded');
    const waiting = Promise.resolve(broker.publish(request('x'))).then(
      () => 'published',
      (e: unknown) => (isUnisocketError(e) ? e.code : String(e)),
    );
    const started = Date.now();
    await broker.close();
    const took = Date.now() - started;
    expect(await waiting).toBe('UNAVAILABLE');
    expect(broker.state).toBe('closed');
    expect(took).toBeLessThan(15_000);
  });
});
