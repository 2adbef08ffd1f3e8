import { createRequire } from 'node:module';
import { type ClusterEvent, resolveServiceOptions, runCluster } from '@unisocket/server';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { checkConfig, memoryClusterMessage } from './check';
import { type LoadedConfig, type ServerFlags, loadConfig, parseTransports } from './config';
import { CliError, ExitCode, messageOf } from './errors';
import { parseInteger, parsePort, parseTtl } from './parse';
import { describeBroker, describeServer, startServer } from './server';
import { createToken, parseClaim } from './token';

/** Where the CLI writes and what it reads; the process's by default (tests pass their own). */
export interface CliIo {
  env?: NodeJS.ProcessEnv;
  out?: (text: string) => void;
  err?: (text: string) => void;
  cwd?: string;
}

const strict =
  <T>(parse: (value: string) => T) =>
  (value: string): T => {
    try {
      return parse(value);
    } catch (error) {
      throw new InvalidArgumentError(messageOf(error));
    }
  };

function version(): string {
  try {
    return (createRequire(import.meta.url)('../package.json') as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

function addServerOptions(command: Command, withWorkers: boolean): Command {
  command
    .option(
      '-c, --config <file>',
      'config file: the options of createUnifiedWebSocketService as JSON (UNISOCKET_CONFIG)',
    )
    .option(
      '-p, --port <n>',
      'HTTP port, 0 for any free one (PORT, default 3000)',
      strict((v) => parsePort('--port', v)),
    )
    .option('--host <host>', 'interface to listen on (HOST, default 0.0.0.0)')
    .addOption(new Option('--broker <type>', 'broker (BROKER, default memory)').choices(['memory', 'redis', 'kafka']))
    .option('--redis-url <url>', 'Redis URL (REDIS_URL, default redis://127.0.0.1:6379)')
    .option('--redis-key-prefix <prefix>', 'Redis key prefix (REDIS_KEY_PREFIX, default unisocket:)')
    .option(
      '--kafka-brokers <list>',
      'Kafka brokers, host:port comma-separated (KAFKA_BROKERS)',
      strict((v) =>
        v
          .split(',')
          .map((b) => b.trim())
          .filter((b) => b !== ''),
      ),
    )
    .option('--path <path>', 'WebSocket path of the native transport (WS_PATH, default /ws)')
    .option('--node-id <id>', 'this node id (NODE_ID, default random)')
    .option('--api-key <key>', 'API key of POST /broadcast and the queue API (API_KEY)')
    .option('--jwt-secret <secret>', 'HS256 secret of connection tokens; turns JWT auth on (JWT_SECRET)')
    .option('--auth-required', 'refuse connections without a valid token (AUTH_REQUIRED=true)')
    .option('--cors-origin <origin>', 'CORS origin of the HTTP API: *, an origin or a list (CORS_ORIGIN)')
    .option(
      '--transports <list>',
      'transports: native,socketio,pusher (TRANSPORTS, default native)',
      strict((v) => parseTransports('--transports', v)),
    )
    .option(
      '--max-connections <n>',
      'connections this node accepts (WS_MAX_CONNECTIONS)',
      strict((v) => parseInteger('--max-connections', v, 1)),
    );
  if (withWorkers) {
    command.option(
      '-w, --workers <n>',
      'worker processes on node:cluster, > 1 needs Redis or Kafka (WORKERS, default 1)',
      strict((v) => parseInteger('--workers', v, 1)),
    );
  }
  return command
    .allowUnknownOption(false)
    .allowExcessArguments(false)
    .addHelpText(
      'after',
      '\nPrecedence: flags > environment variables > config file. Every other option goes in the config file;\nthe variables are listed in the @unisocket/server README (optionsFromEnv) and the @unisocket/cli README.',
    );
}

/** Validates the merged options as the service will, before anything starts. */
function validate(config: LoadedConfig): void {
  try {
    resolveServiceOptions(config.options);
  } catch (error) {
    throw new CliError(`invalid configuration: ${messageOf(error)}`);
  }
  const broker = config.options.broker as { type?: string } | undefined;
  if (config.workers > 1 && (broker?.type ?? 'memory') === 'memory') {
    throw new CliError(memoryClusterMessage(config.workers));
  }
}

async function start(config: LoadedConfig, out: (text: string) => void, err: (text: string) => void): Promise<void> {
  validate(config);
  const used = `configured by ${config.sources.length === 0 ? 'defaults' : config.sources.join(', ')}`;
  if (config.workers > 1) {
    await runCluster({
      workers: config.workers,
      ...(config.options.nodeId === undefined ? {} : { nodeId: config.options.nodeId }),
      onEvent: (event: ClusterEvent) => {
        if (event.type === 'fork') return;
        if (event.type === 'stopped') {
          out('unisocket cluster stopped\n');
          process.exit(ExitCode.OK);
        }
        if (event.type === 'shutdown') out('unisocket cluster: shutting down the workers (clients get close 1001)\n');
        else if (event.type === 'ready') out(`unisocket cluster: worker ${event.index} (pid ${event.pid}) ready\n`);
        else err(`unisocket cluster: ${JSON.stringify(event)}\n`);
      },
      async setup({ nodeId }) {
        const running = await startServer({ ...config, options: { ...config.options, nodeId } });
        out(`${describeServer(running)}\n`);
        return { shutdown: () => running.service.shutdown(), server: running.server };
      },
    });
    // the primary prints the cluster's line once (workers print theirs when they listen)
    if ((await import('node:cluster')).default.isPrimary) {
      out(
        `unisocket cluster: ${config.workers} workers on http://${config.host}:${config.port} — broker ${describeBroker(config.options)}\n${used}\n`,
      );
    }
    return;
  }
  let running: Awaited<ReturnType<typeof startServer>>;
  try {
    running = await startServer(config);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      throw new CliError(
        `port ${config.port} on ${config.host} is in use: stop what listens there or set PORT / --port`,
      );
    }
    throw new CliError(`cannot start: ${messageOf(error)}`);
  }
  out(`${describeServer(running)}\n${used}\n`);
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) {
        err(`${signal} again: exiting now\n`);
        process.exit(ExitCode.FAILURE);
      }
      stopping = true;
      out(`${signal}: shutting down (clients get close 1001)\n`);
      running.close().then(
        () => {
          out('unisocket stopped\n');
          process.exit(ExitCode.OK);
        },
        (error: unknown) => {
          err(`unisocket: shutdown failed: ${messageOf(error)}\n`);
          process.exit(ExitCode.FAILURE);
        },
      );
    });
  }
}

/** Builds the `unisocket` program (commander); {@link main} runs it. */
export function createProgram(io: CliIo = {}): Command {
  const env = io.env ?? process.env;
  const out = io.out ?? ((text: string) => void process.stdout.write(text));
  const err = io.err ?? ((text: string) => void process.stderr.write(text));
  const program = new Command('unisocket')
    .description('unisocket as a standalone real-time server: start it, sign tokens for it, check its configuration')
    .version(version(), '-v, --version', 'print the version')
    .exitOverride()
    .configureOutput({ writeOut: out, writeErr: err })
    .showHelpAfterError('(run with --help for usage)')
    .allowUnknownOption(false)
    .allowExcessArguments(false);

  addServerOptions(
    program
      .command('start')
      .description(
        'run the server: HTTP API (/health, /stats, /metrics, /api/websocket/status, POST /broadcast, /queue…) and the transports',
      ),
    true,
  ).action(async (flags: ServerFlags) => {
    await start(loadConfig({ env, flags, ...(io.cwd === undefined ? {} : { cwd: io.cwd }) }), out, err);
  });

  program
    .command('token')
    .description('print a JWT signed with JWT_SECRET: a connection token, or a subscription token with --channel')
    .requiredOption('--sub <id>', 'the user id (sub claim)')
    .option('--ttl <span>', 'lifetime: 30s, 15m, 1h, 7d or seconds (default 1h; 10m with --channel)', strict(parseTtl))
    .option(
      '--claim <k=v>',
      'an extra claim, repeatable: k=v (string) or k:=json (number, boolean, object)',
      (value: string, previous: Record<string, unknown> | undefined) => {
        try {
          return parseClaim(value, previous);
        } catch (error) {
          throw new InvalidArgumentError(messageOf(error));
        }
      },
    )
    .option('--channel <name>', 'sign a subscription token for this private-/presence- channel')
    .option('--secret <secret>', 'the HS256 secret (default: JWT_SECRET; prefer the variable, flags show in ps)')
    .allowUnknownOption(false)
    .allowExcessArguments(false)
    .action(
      async (flags: {
        sub: string;
        ttl?: number;
        claim?: Record<string, unknown>;
        channel?: string;
        secret?: string;
      }) => {
        const token = await createToken({
          sub: flags.sub,
          secret: flags.secret ?? (env.JWT_SECRET === '' ? undefined : env.JWT_SECRET),
          ...(flags.ttl === undefined ? {} : { ttlSeconds: flags.ttl }),
          ...(flags.claim === undefined ? {} : { claims: flags.claim }),
          ...(flags.channel === undefined ? {} : { channel: flags.channel }),
        });
        out(`${token}\n`);
      },
    );

  addServerOptions(
    program
      .command('check')
      .description('validate the configuration and reach the broker (5 s at most), exit 0 or say what to fix')
      .option(
        '--timeout <ms>',
        'how long reaching the broker may take (default 5000)',
        strict((v) => parseInteger('--timeout', v, 1)),
      ),
    true,
  ).action(async (flags: ServerFlags & { timeout?: number }) => {
    const { timeout, ...serverFlags } = flags;
    const config = loadConfig({ env, flags: serverFlags, ...(io.cwd === undefined ? {} : { cwd: io.cwd }) });
    const lines = await checkConfig(config, timeout === undefined ? {} : { timeoutMs: timeout });
    out(`${lines.join('\n')}\nunisocket check: the configuration is good\n`);
  });
  return program;
}

/**
 * Runs the `unisocket` command line and resolves with the exit code for commands that finish (`token`, `check`,
 * `--help`, errors); `start` keeps running until SIGTERM/SIGINT and exits the process itself.
 */
export async function main(argv: readonly string[] = process.argv, io: CliIo = {}): Promise<number> {
  const err = io.err ?? ((text: string) => void process.stderr.write(text));
  const program = createProgram(io);
  try {
    await program.parseAsync(argv as string[]);
    return ExitCode.OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // help and version exit 0; commander already printed its message for the rest
      return error.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
    }
    if (error instanceof CliError) {
      err(`unisocket: ${error.message}\n`);
      return error.exitCode;
    }
    err(`unisocket: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return ExitCode.FAILURE;
  }
}
