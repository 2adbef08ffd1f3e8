/**
 * vitest `globalSetup`: starts Redis and Kafka when they are not running (`UNISOCKET_SERVICES=off` starts nothing)
 * and returns a teardown that stops only what it started (`UNISOCKET_SERVICES_KEEP=1` keeps them). It also guards the
 * shared Redis: clears stale `test:` keys of earlier runs at setup and, at teardown, reports the `test:` keys this run
 * left (an error under `CI=true`, a warning otherwise; `UNISOCKET_REDIS_KEY_GUARD=off` disables it).
 * Resolves undefined when services are off and the guard has nothing to do.
 */
export default function setup(): Promise<(() => Promise<void>) | undefined>;
