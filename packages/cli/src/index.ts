/**
 * @unisocket/cli — unisocket as a standalone server. The `unisocket` binary (`start`, `token`, `check`) and the
 * functions it is built from, for programs and tests: {@link loadConfig} merges a config file, the environment and
 * flags; {@link startServer} runs the service on an HTTP server of its own; {@link checkConfig} validates and reaches
 * the broker; {@link createToken} signs JWTs.
 * @packageDocumentation
 */
export {
  loadConfig,
  readConfigFile,
  mergeOptions,
  maskUrl,
  parseTransports,
  type LoadConfigInput,
  type LoadedConfig,
  type ServerFlags,
} from './config';
export {
  startServer,
  describeServer,
  describeBroker,
  transportsOf,
  type StartServerOptions,
  type RunningServer,
} from './server';
export { checkConfig, type CheckOptions } from './check';
export { createToken, parseClaim, type CreateTokenOptions } from './token';
export { main, createProgram, type CliIo } from './cli';
export { CliError, ExitCode } from './errors';
export { parseTtl, parseInteger, parsePort } from './parse';
