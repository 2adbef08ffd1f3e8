import net from 'node:net';
import { HOST, redisPort } from './config.mjs';

/** The Redis the suites share: `REDIS_URL` when set, else `redis://127.0.0.1:<REDIS_PORT>`. */
function target(url = process.env.REDIS_URL) {
  if (!url) return { host: HOST, port: redisPort() };
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[|\]$/g, '') || HOST, port: Number(u.port || 6379) };
}

/** Parses one RESP reply from `buf` at `at`; returns `[value, next]`, or undefined while incomplete. */
function parse(buf, at) {
  const end = buf.indexOf('\r\n', at);
  if (end === -1) return undefined;
  const type = buf[at];
  const line = buf.toString('latin1', at + 1, end);
  if (type === 0x2b /* + */) return [line, end + 2];
  if (type === 0x2d /* - */) return [new Error(line), end + 2];
  if (type === 0x3a /* : */) return [Number(line), end + 2];
  if (type === 0x24 /* $ */) {
    const n = Number(line);
    if (n < 0) return [null, end + 2];
    if (buf.length < end + 2 + n + 2) return undefined;
    return [buf.toString('utf8', end + 2, end + 2 + n), end + 2 + n + 2];
  }
  if (type === 0x2a /* * */) {
    const n = Number(line);
    const items = [];
    let next = end + 2;
    for (let i = 0; i < n; i++) {
      const item = parse(buf, next);
      if (!item) return undefined;
      items.push(item[0]);
      next = item[1];
    }
    return [items, next];
  }
  return [new Error(`unexpected RESP reply ${JSON.stringify(line)}`), end + 2];
}

/**
 * A one-connection raw RESP client (this package has no Redis client dependency): `call(...args)` sends a
 * command and resolves its reply. Rejects when nothing listens at the Redis.
 */
function connect(url) {
  const { host, port } = target(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let buf = Buffer.alloc(0);
    const waiting = [];
    socket.setTimeout(5_000, () => socket.destroy(new Error(`Redis at ${host}:${port} did not answer in 5 s`)));
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const reply = waiting.length > 0 ? parse(buf, 0) : undefined;
        if (!reply) break;
        buf = buf.subarray(reply[1]);
        const { ok, fail } = waiting.shift();
        if (reply[0] instanceof Error) fail(reply[0]);
        else ok(reply[0]);
      }
    });
    socket.once('error', (error) => {
      reject(error);
      for (const w of waiting.splice(0)) w.fail(error);
    });
    socket.once('connect', () => {
      socket.setTimeout(30_000);
      resolve({
        call: (...args) =>
          new Promise((ok, fail) => {
            waiting.push({ ok, fail });
            socket.write(
              `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join('')}`,
            );
          }),
        close: () => socket.destroy(),
      });
    });
  });
}

/** Every key matching `pattern` (SCAN, never KEYS). */
async function scan(client, pattern) {
  const keys = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return [...new Set(keys)];
}

async function withClient(url, use) {
  const client = await connect(url);
  try {
    return await use(client);
  } finally {
    client.close();
  }
}

/**
 * Deletes every key under each prefix (`test:server:ab12cd34:` → `test:server:ab12cd34:*`) from the shared Redis
 * (`REDIS_URL`, else 127.0.0.1:REDIS_PORT) and resolves how many went. For a suite's afterAll; a Redis that does not
 * answer deletes nothing. Only `test:` prefixes are accepted, so a slip can never touch anything but test keys.
 */
export async function deleteRedisKeys(prefixes, { url } = {}) {
  const list = [prefixes].flat().filter(Boolean);
  for (const prefix of list) {
    if (!prefix.startsWith('test:') || prefix.length < 'test:x'.length) {
      throw new TypeError(`deleteRedisKeys: ${JSON.stringify(prefix)} is not a test: prefix`);
    }
  }
  if (list.length === 0) return 0;
  let client;
  try {
    client = await connect(url);
  } catch {
    return 0;
  }
  try {
    let deleted = 0;
    for (const prefix of list) {
      const keys = await scan(client, `${prefix}*`);
      for (let i = 0; i < keys.length; i += 500) deleted += await client.call('DEL', ...keys.slice(i, i + 500));
    }
    return deleted;
  } finally {
    client.close();
  }
}

/** The keys under `test:` with the idle time of each in seconds (OBJECT IDLETIME); undefined when Redis does not answer. */
export async function testKeys({ url } = {}) {
  try {
    return await withClient(url, async (client) => {
      const keys = await scan(client, 'test:*');
      const out = new Map();
      for (const key of keys) {
        const idle = await client.call('OBJECT', 'IDLETIME', key).catch(() => null);
        if (idle !== null) out.set(key, idle);
      }
      return out;
    });
  } catch {
    return undefined;
  }
}

/** Deletes exactly these keys (for the run guard's clean-up of stale leftovers). */
export async function deleteExactKeys(keys, { url } = {}) {
  const list = [...keys].filter((k) => k.startsWith('test:'));
  if (list.length === 0) return 0;
  return withClient(url, async (client) => {
    let deleted = 0;
    for (let i = 0; i < list.length; i += 500) deleted += await client.call('DEL', ...list.slice(i, i + 500));
    return deleted;
  });
}

/** `test:server:ab12cd34:presence:x` → `test:server:ab12cd34:`, to report leftovers by the suite that made them. */
export function keyGroup(key) {
  const parts = key.split(':');
  return `${parts.slice(0, Math.min(3, parts.length - 1)).join(':')}:`;
}

/** Test runs going on now register here (a key each, with a TTL their heartbeat renews); see the run guard. */
export const RUNS_PREFIX = 'test:runs:';

/**
 * Registers this test run on the shared Redis: `test:runs:<id>` expiring in 60 s, renewed every 20 s (unref'd timer).
 * Resolves `{ others, close }`: `others()` lists the other runs registered now; `close()` stops and deletes the mark.
 */
export async function registerRun(id, { url } = {}) {
  const key = `${RUNS_PREFIX}${id}`;
  const seen = new Set();
  const look = () =>
    withClient(url, async (client) => {
      for (const k of await scan(client, `${RUNS_PREFIX}*`)) if (k !== key) seen.add(k);
    });
  const mark = () => withClient(url, (client) => client.call('SET', key, String(process.pid), 'PX', 60_000));
  await mark();
  // every beat also notes the runs registered now, so a run that starts and ends within this one is seen too
  const timer = setInterval(
    () =>
      void mark()
        .then(look)
        .catch(() => {}),
    20_000,
  );
  timer.unref();
  return {
    key,
    /** Every other run seen registered since this one registered (including now). */
    others: async () => {
      await look().catch(() => {});
      return [...seen];
    },
    close: async () => {
      clearInterval(timer);
      await withClient(url, (client) => client.call('DEL', key)).catch(() => {});
    },
  };
}
