import { connect } from 'node:net';
import { type BrokerConfig, resolveServiceOptions } from '@unisocket/server';
import type { LoadedConfig } from './config';
import { CliError, messageOf } from './errors';
import { describeBroker, transportsOf } from './server';

/** Options of {@link checkConfig}. */
export interface CheckOptions {
  /** How long reaching the broker may take, in ms. @default 5000 */
  timeoutMs?: number;
}

interface StartableBroker {
  start(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Checks a configuration without serving anything: validates the options as the service would
 * (`resolveServiceOptions`), and starts the broker they name (Redis, Kafka) within `timeoutMs`, then closes it.
 * Returns one line per check; throws a {@link CliError} (exit 1) whose message says what to fix.
 *
 * @example
 * ```ts
 * for (const line of await checkConfig(loadConfig({ env: process.env }))) console.log(line);
 * ```
 */
export async function checkConfig(config: LoadedConfig, options: CheckOptions = {}): Promise<string[]> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const lines: string[] = [];
  if (config.file !== undefined) lines.push(`ok  config file ${config.file} is valid JSON`);
  let resolved: ReturnType<typeof resolveServiceOptions>;
  try {
    resolved = resolveServiceOptions(config.options);
  } catch (error) {
    throw new CliError(`invalid configuration: ${messageOf(error)}`);
  }
  const auth = config.options.auth?.jwt === undefined ? 'no JWT' : 'JWT';
  lines.push(
    `ok  options are valid: transports ${transportsOf(config.options).join(', ')}, path ${config.options.path ?? '/ws'}, auth ${auth}${config.options.auth?.required === true ? ' (required)' : ''}, port ${config.port}, host ${config.host}, workers ${config.workers}`,
  );
  if (config.workers > 1 && (resolved.broker.instance !== undefined || resolved.broker.type === 'memory')) {
    throw new CliError(memoryClusterMessage(config.workers));
  }
  const broker = (config.options.broker ?? { type: 'memory' }) as BrokerConfig;
  if (broker.type === 'memory') {
    lines.push('ok  broker memory: in this process, nothing to reach');
    return lines;
  }
  await reachBroker(broker, timeoutMs);
  lines.push(`ok  broker ${describeBroker(config.options)} answered`);
  return lines;
}

/** The refusal of WORKERS > 1 on the memory broker. */
export function memoryClusterMessage(workers: number): string {
  return `WORKERS=${workers} runs ${workers} separate processes, which need a shared broker: set BROKER=redis and REDIS_URL (or --broker redis --redis-url …), or run one worker`;
}

async function reachBroker(broker: BrokerConfig, timeoutMs: number): Promise<void> {
  const { type, history: _history, ...rest } = broker as BrokerConfig & Record<string, unknown>;
  const redis = type === 'redis';
  const name = redis ? 'Redis' : 'Kafka';
  const where = redis
    ? String((rest as { url?: string }).url ?? 'redis://127.0.0.1:6379')
    : ((rest as { brokers?: string[] }).brokers ?? []).join(',');
  const fix = redis ? 'start Redis or set REDIS_URL' : 'start Kafka or set KAFKA_BROKERS';
  const shown = describeBroker({ broker }).replace(/^\w+ \((.*)\)$/, '$1');

  // a TCP probe first: it tells "connection refused" from "unknown host" from "no answer"
  const first = redis ? hostPortOfUrl(where, 6379) : hostPortOfAddress(where.split(',')[0] ?? '', 9092);
  if (first !== undefined) {
    const problem = await probe(first.host, first.port, timeoutMs);
    if (problem !== undefined) throw new CliError(`cannot reach ${name} at ${shown}: ${problem} — ${fix}`);
  }

  const pkg = redis ? '@unisocket/broker-redis' : '@unisocket/broker-kafka';
  let instance: StartableBroker;
  try {
    if (redis) {
      const { RedisBroker } = await import('@unisocket/broker-redis');
      instance = new RedisBroker(rest as ConstructorParameters<typeof RedisBroker>[0]);
    } else {
      const { KafkaBroker } = await import('@unisocket/broker-kafka');
      instance = new KafkaBroker(rest as unknown as ConstructorParameters<typeof KafkaBroker>[0]);
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new CliError(`broker ${type} needs the package ${pkg}: install it next to @unisocket/cli (npm i ${pkg})`);
    }
    throw new CliError(`invalid ${name} broker options: ${messageOf(error)}`);
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      instance.start(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
      }),
    ]);
  } catch (error) {
    throw new CliError(`cannot reach ${name} at ${shown}: ${messageOf(error)} — ${fix}`);
  } finally {
    clearTimeout(timer);
    await Promise.race([instance.close().catch(() => {}), new Promise((r) => setTimeout(r, 2000).unref())]);
  }
}

function hostPortOfUrl(value: string, defaultPort: number): { host: string; port: number } | undefined {
  try {
    const url = new URL(value);
    if (url.protocol === 'unix:' || url.hostname === '') return undefined;
    return { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port === '' ? defaultPort : Number(url.port) };
  } catch {
    return undefined;
  }
}

function hostPortOfAddress(value: string, defaultPort: number): { host: string; port: number } | undefined {
  const match = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(value.trim());
  if (match === null || match[1] === undefined) return undefined;
  return { host: match[1], port: match[2] === undefined ? defaultPort : Number(match[2]) };
}

/** Opens a TCP connection; `undefined` when it connects, else what went wrong in words. */
function probe(host: string, port: number, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (problem: string | undefined): void => {
      socket.destroy();
      resolve(problem);
    };
    socket.setTimeout(timeoutMs, () => done(`no answer within ${Math.round(timeoutMs / 1000)} s`));
    socket.once('connect', () => done(undefined));
    socket.once('error', (error: NodeJS.ErrnoException) => {
      const words: Record<string, string> = {
        ECONNREFUSED: 'connection refused',
        ENOTFOUND: `unknown host ${host}`,
        EAI_AGAIN: `unknown host ${host}`,
        EHOSTUNREACH: 'host unreachable',
        ENETUNREACH: 'network unreachable',
        ETIMEDOUT: 'connection timed out',
      };
      done(words[error.code ?? ''] ?? error.message);
    });
  });
}
