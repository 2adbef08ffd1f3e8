import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import {
  type BrokerHost,
  type PublishRequest,
  type StreamMessage,
  type StreamPosition,
  messageHead,
} from '@unisocket/core';
import { kafkaBrokers } from '@unisocket/services';
import { Kafka, logLevel } from 'kafkajs';
import WebSocket from 'ws';

/** A topic (or group) name of its own for one test, so tests sharing the broker never see each other. */
export function unique(tag: string): string {
  return `test.${tag}.${Date.now().toString(36)}.${randomBytes(3).toString('hex')}`;
}

const created: { brokers: string[]; topics: Set<string> }[] = [];

/** A topic name of its own for one test, deleted by {@link deleteTestTopics} when the suite ends. */
export function testTopic(tag: string, brokers: string[]): string {
  const topic = unique(tag);
  let entry = created.find((c) => c.brokers.join() === brokers.join());
  if (entry === undefined) created.push((entry = { brokers, topics: new Set() }));
  entry.topics.add(topic);
  return topic;
}

/** Deletes the topics {@link testTopic} named (their epoch markers go with them): the shared broker stays tidy. */
export async function deleteTestTopics(): Promise<void> {
  for (const { brokers, topics } of created.splice(0)) {
    const admin = testKafka(brokers).admin();
    try {
      await admin.connect();
      const existing = new Set(await admin.listTopics());
      const doomed = [...topics].filter((t) => existing.has(t));
      if (doomed.length > 0) await admin.deleteTopics({ topics: doomed, timeout: 10_000 });
    } catch {
      // best effort: a leftover test topic harms nobody
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
}

export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A plain kafkajs client for the test itself (admin, raw producers and consumers). */
export function testKafka(brokers: string[]): Kafka {
  return new Kafka({ clientId: 'broker-kafka-test', brokers, logLevel: logLevel.NOTHING });
}

export interface Recorder extends BrokerHost {
  got: StreamMessage[];
  volatile: string[];
  resyncs: { channel: string; position: StreamPosition }[];
  offsets(channel: string): number[];
}

/** A BrokerHost that records what the broker delivers. */
export function recorder(): Recorder {
  const got: StreamMessage[] = [];
  const volatile: string[] = [];
  const resyncs: { channel: string; position: StreamPosition }[] = [];
  return {
    got,
    volatile,
    resyncs,
    dispatch: (m) => got.push(m),
    dispatchVolatile: (_c, line) => volatile.push(line),
    resync: (channel, position) => resyncs.push({ channel, position }),
    offsets: (channel) => got.filter((m) => m.channel === channel).map((m) => m.offset),
  };
}

let counter = 0;
/** A publish request as the Hub builds it. */
export function request(channel: string, options: { id?: string; data?: unknown } = {}): PublishRequest {
  const id = options.id ?? `t-${process.pid}-${counter++}`;
  const ts = Date.now();
  return {
    channel,
    id,
    head: messageHead(channel, 'e', JSON.stringify(options.data ?? counter), id, ts),
    ts,
    idempotent: options.id !== undefined,
  };
}

// ------------------------------------------------------------------------------------------------
// nodes in their own processes
// ------------------------------------------------------------------------------------------------

const FIXTURE = fileURLToPath(new URL('./fixtures/node.mjs', import.meta.url));

export interface NodeProcess {
  nodeId: string;
  port: number;
  url: string;
  groupId: string;
  child: ChildProcess;
  output: () => string;
  publish(channel: string, data: unknown, options?: { event?: string; id?: string }): Promise<Record<string, unknown>>;
  health(): Promise<Record<string, unknown>>;
  bridgeStats(): Promise<{ broadcast: number; undecodable: number; received: number; forwarded: number }>;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
}

/** Starts the fixture node (a Hub on a KafkaBroker behind the native transport) in a child process. */
export async function startNode(env: Record<string, string>): Promise<NodeProcess> {
  const child = spawn(process.execPath, [FIXTURE], {
    // the fixture connects to the broker the suites use (and requireService checked), unless the caller says otherwise
    env: { ...process.env, KAFKAJS_NO_PARTITIONER_WARNING: '1', KAFKA_BROKERS: kafkaBrokers().join(','), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = once(child, 'exit');
  const ready = await Promise.race([
    (async () => {
      await waitFor(() => /READY \{.*\}\n/.test(out), 90_000, `node ${env.NODE_ID} to start`);
      return JSON.parse(/READY (\{.*\})\n/.exec(out)![1]!) as { port: number; nodeId: string; groupId: string };
    })(),
    exited.then(([code]) => {
      throw new Error(`node ${env.NODE_ID} exited with ${String(code)} before it was ready:\n${out}`);
    }),
  ]);
  const base = `http://127.0.0.1:${ready.port}`;
  return {
    nodeId: ready.nodeId,
    port: ready.port,
    url: `ws://127.0.0.1:${ready.port}/ws`,
    groupId: ready.groupId,
    child,
    output: () => out,
    async publish(channel, data, options = {}) {
      const res = await fetch(`${base}/publish`, {
        method: 'POST',
        body: JSON.stringify({
          channel,
          data,
          event: options.event ?? 'e',
          ...(options.id === undefined ? {} : { id: options.id }),
        }),
      });
      const body = (await res.json()) as Record<string, unknown>;
      return { status: res.status, ...body };
    },
    async health() {
      return (await (await fetch(`${base}/health`)).json()) as Record<string, unknown>;
    },
    async bridgeStats() {
      return (await (await fetch(`${base}/bridge`)).json()) as {
        broadcast: number;
        undecodable: number;
        received: number;
        forwarded: number;
      };
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// ------------------------------------------------------------------------------------------------
// a raw WebSocket client
// ------------------------------------------------------------------------------------------------

export type Frame = Record<string, unknown>;

/** A raw ws client that records every frame (split on \n) and can wait for one. */
export class RawClient {
  readonly ws: WebSocket;
  readonly frames: Frame[] = [];
  #refs = 0;

  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on('message', (data) => {
      for (const line of data.toString().split('\n')) this.frames.push(JSON.parse(line) as Frame);
    });
    this.ws.on('error', () => {});
  }

  static async open(url: string): Promise<RawClient> {
    const client = new RawClient(url);
    await client.next((f) => f.type === 'welcome');
    return client;
  }

  async next(test: (f: Frame) => boolean, timeoutMs = 20_000): Promise<Frame> {
    let found: Frame | undefined;
    await waitFor(() => (found = this.frames.find(test)) !== undefined, timeoutMs, 'a frame');
    return found!;
  }

  /** Sends a command with a ref and waits for its ack or error. */
  async request(command: Frame, timeoutMs = 20_000): Promise<Frame> {
    const ref = `r${++this.#refs}`;
    this.ws.send(JSON.stringify({ ...command, ref }));
    return this.next((f) => f.ref === ref, timeoutMs);
  }

  /** The message frames of a channel (or all). */
  messages(channel?: string): Frame[] {
    return this.frames.filter((f) => f.type === 'message' && (channel === undefined || f.channel === channel));
  }

  close(): void {
    this.ws.terminate();
  }
}
