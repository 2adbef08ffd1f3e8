/**
 * vitest `globalSetup`: with `UNISOCKET_SERVICES=auto`, or `CI=true` (unless `UNISOCKET_SERVICES=off`),
 * starts Redis and Kafka before the tests and returns a teardown that stops only what it started
 * (`UNISOCKET_SERVICES_KEEP=1` keeps them). Otherwise does nothing.
 */
export default function setup(): Promise<(() => Promise<void>) | undefined>;
