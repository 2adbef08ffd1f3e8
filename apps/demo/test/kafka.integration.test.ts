import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { kafkaBrokers, requireService } from '@unisocket/services';
import { createKafkaClient } from '@unisocket/broker-kafka';
import { chromium } from 'playwright-core';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type Demo, KAFKA_EVENTS_CHANNEL, startDemo } from '../src/demo';

const kafkaUp = await requireService('kafka');
// KAFKA_BROKERS, else 127.0.0.1:KAFKA_PORT: the broker requireService checked
const BROKERS = kafkaBrokers();
// the page's Kafka panel is checked in a real headless Chromium when there is one (see dashboard.browser.test.ts)
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const chromiumHere = existsSync(CHROMIUM);

const demos: Demo[] = [];
const topics: string[] = [];
afterEach(async () => {
  await Promise.all(demos.splice(0).map((d) => d.close()));
});
afterAll(async () => {
  if (topics.length === 0) return;
  const admin = createKafkaClient({ brokers: BROKERS }, 'test').admin();
  await admin.connect();
  await admin.deleteTopics({ topics, timeout: 10_000 }).catch(() => undefined);
  await admin.disconnect();
});

function frames(ws: WebSocket): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  ws.on('message', (data) => {
    for (const line of data.toString().split('\n')) out.push(JSON.parse(line) as Record<string, unknown>);
  });
  return out;
}

async function until(predicate: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(!kafkaUp)('demo app on Kafka', { timeout: 90_000 }, () => {
  it("runs on BROKER=kafka and streams a Kafka topic into kafka.events on every node, once; the page's notes go round through Kafka", async () => {
    const tag = `${Date.now().toString(36)}.${randomBytes(3).toString('hex')}`;
    const env = {
      BROKER: 'kafka',
      KAFKA_BROKERS: BROKERS.join(','),
      KAFKA_TOPIC: `test.demo.messages.${tag}`,
      KAFKA_BRIDGE_TOPIC: `test.demo.events.${tag}`,
      KAFKA_BRIDGE_GROUP: `test.demo.bridge.${tag}`,
    };
    topics.push(env.KAFKA_TOPIC, env.KAFKA_BRIDGE_TOPIC);
    const a = await startDemo({ port: 0, env: { ...env, NODE_ID: 'demo-a' }, log: () => {} });
    demos.push(a);
    const b = await startDemo({
      port: 0,
      env: { ...env, NODE_ID: 'demo-b', KAFKA_DEMO_GENERATOR: 'off' },
      log: () => {},
    });
    demos.push(b);
    expect(a.kafka?.topic).toBe(env.KAFKA_BRIDGE_TOPIC);
    expect(await fetch(`${a.url}/health`).then((r) => r.json())).toMatchObject({
      status: 'healthy',
      broker: { kind: 'kafka', state: 'ready' },
    });

    const onA = new WebSocket(`ws://127.0.0.1:${a.port}/ws`);
    const onB = new WebSocket(`ws://127.0.0.1:${b.port}/ws`);
    const fa = frames(onA);
    const fb = frames(onB);
    await Promise.all([once(onA, 'open'), once(onB, 'open')]);
    for (const ws of [onA, onB]) ws.send(JSON.stringify({ type: 'subscribe', channel: KAFKA_EVENTS_CHANNEL, ref: 1 }));
    await until(() => fa.some((f) => f.type === 'ack') && fb.some((f) => f.type === 'ack'));

    // the stand-in backend on node a produces readings to the topic; both nodes show them
    const isReading = (f: Record<string, unknown>) => f.type === 'message' && f.event === 'reading';
    await until(() => fb.some(isReading) && fa.some(isReading));
    expect(fb.find(isReading)!.data).toMatchObject({ sensor: 'greenhouse-1', node: 'demo-a' });

    // a note published on kafka.out (from node b) is forwarded to the topic and comes back on kafka.events
    onB.send(
      JSON.stringify({
        type: 'publish',
        channel: 'kafka.out',
        event: 'note',
        data: { name: 'b', text: 'hello kafka' },
        ref: 2,
      }),
    );
    const isNote = (f: Record<string, unknown>) => f.type === 'message' && f.event === 'note';
    await until(() => fa.some(isNote) && fb.some(isNote));
    await new Promise((r) => setTimeout(r, 1_000));
    for (const got of [fa, fb]) {
      const notes = got.filter(isNote);
      expect(notes).toHaveLength(1); // broadcast once, by whichever node's bridge consumed the record
      expect(notes[0]).toMatchObject({ channel: KAFKA_EVENTS_CHANNEL, data: { name: 'b', text: 'hello kafka' } });
    }
    onA.close();
    onB.close();
  });

  it.skipIf(!chromiumHere && process.env.CI !== 'true')(
    "shows the Kafka topic in the page's panel and sends a note round through Kafka (headless Chromium)",
    async () => {
      if (!chromiumHere)
        throw new Error(`CI=true and no Chromium at ${CHROMIUM}: install it (apt-get install -y chromium)`);
      const tag = `${Date.now().toString(36)}.${randomBytes(3).toString('hex')}`;
      const env = {
        BROKER: 'kafka',
        KAFKA_BROKERS: BROKERS.join(','),
        KAFKA_TOPIC: `test.demo.messages.${tag}`,
        KAFKA_BRIDGE_TOPIC: `test.demo.events.${tag}`,
        KAFKA_BRIDGE_GROUP: `test.demo.bridge.${tag}`,
        NODE_ID: 'demo-page',
      };
      topics.push(env.KAFKA_TOPIC, env.KAFKA_BRIDGE_TOPIC);
      const demo = await startDemo({ port: 0, env, log: () => {} });
      demos.push(demo);
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-dev-shm-usage',
        ],
      });
      try {
        const page = await browser.newPage();
        const errors: string[] = [];
        page.on('pageerror', (error) => errors.push(error.message));
        await page.goto(demo.url);
        // the stand-in backend's readings arrive through the bridge
        await page.waitForSelector('#kafka-events li', { timeout: 20_000 });
        expect(await page.textContent('#kafka-events li b')).toBe('reading');
        await page.fill('#note', 'through kafka and back');
        await page.click('#to-kafka button');
        await page.locator('#kafka-events li', { hasText: 'through kafka and back' }).waitFor({ timeout: 20_000 });
        expect(
          await page.locator('#kafka-events li', { hasText: 'through kafka and back' }).locator('b').textContent(),
        ).toBe('note');
        expect(errors).toEqual([]);
      } finally {
        await browser.close();
      }
    },
  );
});
