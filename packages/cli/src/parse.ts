/** Strict parsers for flag and variable values: a bad value throws a `TypeError` naming what was given. */

/** An integer in `[min, max]`, written in decimal digits only (`1e3`, `0x10`, `12abc`, `''` are refused). */
export function parseInteger(name: string, value: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const trimmed = value.trim();
  const n = /^-?\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new TypeError(`${name} must be an integer ${range}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** A TCP port, 0 (any free port) to 65535. */
export function parsePort(name: string, value: string): number {
  return parseInteger(name, value, 0, 65535);
}

/** `true`/`false` (also `1`/`0`, `yes`/`no`). */
export function parseBoolean(name: string, value: string): boolean {
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes'].includes(v)) return true;
  if (['false', '0', 'no'].includes(v)) return false;
  throw new TypeError(`${name} must be true or false, got ${JSON.stringify(value)}`);
}

/** A comma-separated list, trimmed, empty items dropped; at least one item. */
export function parseList(name: string, value: string): string[] {
  const items = value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
  if (items.length === 0) throw new TypeError(`${name} must be a comma-separated list, got ${JSON.stringify(value)}`);
  return items;
}

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

/**
 * A token lifetime in seconds: `30s`, `15m`, `1h`, `7d`, or a number of seconds (`3600`). Must be positive.
 *
 * @example parseTtl('15m') // 900
 */
export function parseTtl(value: string): number {
  const match = /^(\d+)\s*([smhd]?)$/.exec(value.trim());
  const seconds = match === null ? Number.NaN : Number(match[1]) * (UNIT_SECONDS[match[2] || 's'] ?? Number.NaN);
  if (!Number.isSafeInteger(seconds) || seconds <= 0) {
    throw new TypeError(
      `--ttl must be a positive lifetime such as 30s, 15m, 1h, 7d or a number of seconds, got ${JSON.stringify(value)}`,
    );
  }
  return seconds;
}
