/** One Pusher app: its own key and secret, its own channel namespace, its own limits. */
export interface PusherAppOptions {
  /** The app id (REST API paths `/apps/{id}/…`, `PUSHER_APP_ID`). 1–64 characters of `[A-Za-z0-9_.-]`. */
  id: string;
  /** The public key clients connect with (`/app/{key}`, `PUSHER_APP_KEY`). 1–64 characters of `[A-Za-z0-9_.-]`. */
  key: string;
  /**
   * The secret that signs channel authorizations, user sign-ins, REST requests and webhooks (`PUSHER_APP_SECRET`).
   * In production (`NODE_ENV=production`) it must be at least 32 characters and not a demo default.
   */
  secret: string;
  /**
   * The largest event `data` accepted from the REST API and from client events, in bytes (Pusher's limit is 10 KB).
   * @default 10_240
   */
  maxEventBytes?: number;
  /**
   * Client events (`client-…`, Laravel Echo's `whisper`) on private and presence channels.
   * @default true
   */
  clientEvents?: boolean;
  /**
   * Client events one connection may send per second before they are refused (Pusher's limit is 10).
   * @default 10
   */
  clientEventsPerSecond?: number;
  /**
   * The most members of a presence channel (Pusher's limit is 100); subscribing past it is refused.
   * @default 100
   */
  maxPresenceMembers?: number;
}

/** Options of the Pusher-protocol transport (`pusher` in the service options). */
export interface PusherOptions {
  /** The apps served: one or several, isolated from each other. The first app shares its channels with the native and Socket.IO transports. */
  apps: PusherAppOptions[];
  /**
   * The WebSocket path prefix: clients connect to `{path}/{key}`.
   * @default '/app'
   */
  path?: string;
  /**
   * The REST API path prefix: `{restPath}/{app id}/events`, … .
   * @default '/apps'
   */
  restPath?: string;
  /**
   * The `activity_timeout` advertised in `pusher:connection_established`, in seconds: how long a client waits without
   * a message before it sends `pusher:ping`.
   * @default 120
   */
  activityTimeoutSec?: number;
}

/** An app with every default applied. */
export type ResolvedPusherApp = Required<PusherAppOptions>;

/** The resolved options of the Pusher transport. */
export interface ResolvedPusherOptions {
  apps: ResolvedPusherApp[];
  path: string;
  restPath: string;
  activityTimeoutSec: number;
}

/** Defaults of {@link PusherAppOptions} (id, key and secret aside). */
export const DEFAULT_PUSHER_APP_OPTIONS = {
  maxEventBytes: 10_240,
  clientEvents: true,
  clientEventsPerSecond: 10,
  maxPresenceMembers: 100,
} as const satisfies Omit<ResolvedPusherApp, 'id' | 'key' | 'secret'>;

/** Defaults of {@link PusherOptions} (apps aside). */
export const DEFAULT_PUSHER_OPTIONS = {
  path: '/app',
  restPath: '/apps',
  activityTimeoutSec: 120,
} as const satisfies Omit<ResolvedPusherOptions, 'apps'>;

const APP_KEYS = ['id', 'key', 'secret', ...Object.keys(DEFAULT_PUSHER_APP_OPTIONS)];
const OPTION_KEYS = ['apps', ...Object.keys(DEFAULT_PUSHER_OPTIONS)];
const TOKEN = /^[A-Za-z0-9_.-]{1,64}$/;
/** Secrets shipped as examples and defaults: never accepted in production. */
const DEMO_SECRETS = new Set(['demo-app-secret', 'secret', 'app-secret', 'changeme']);

/**
 * Validates the Pusher options, throwing a `TypeError` that says what to change. `production` refuses weak secrets
 * (shorter than 32 characters, or a demo default).
 */
export function resolvePusherOptions(
  options: PusherOptions,
  production = process.env.NODE_ENV === 'production',
): ResolvedPusherOptions {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('pusher must be an object: { apps: [{ id, key, secret }] }');
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.includes(key))
      throw new TypeError(`unknown option pusher.${key}; known options: ${OPTION_KEYS.join(', ')}`);
  }
  if (!Array.isArray(options.apps) || options.apps.length === 0) {
    throw new TypeError('pusher.apps must be a non-empty array of { id, key, secret }');
  }
  const ids = new Set<string>();
  const keys = new Set<string>();
  const apps = options.apps.map((app, i) => {
    const where = `pusher.apps[${i}]`;
    if (typeof app !== 'object' || app === null) throw new TypeError(`${where} must be { id, key, secret }`);
    for (const key of Object.keys(app)) {
      if (!APP_KEYS.includes(key))
        throw new TypeError(`unknown option ${where}.${key}; known options: ${APP_KEYS.join(', ')}`);
    }
    for (const field of ['id', 'key'] as const) {
      if (typeof app[field] !== 'string' || !TOKEN.test(app[field])) {
        throw new TypeError(
          `${where}.${field} must be 1-64 characters of [A-Za-z0-9_.-], got ${JSON.stringify(app[field])}`,
        );
      }
    }
    if (ids.has(app.id))
      throw new TypeError(`${where}.id ${JSON.stringify(app.id)} is used by another app: app ids must be unique`);
    if (keys.has(app.key)) throw new TypeError(`${where}.key is used by another app: app keys must be unique`);
    ids.add(app.id);
    keys.add(app.key);
    if (typeof app.secret !== 'string' || app.secret.length === 0) {
      throw new TypeError(`${where}.secret must be a non-empty string (PUSHER_APP_SECRET)`);
    }
    if (production && (app.secret.length < 32 || DEMO_SECRETS.has(app.secret))) {
      throw new TypeError(
        `${where}.secret is too weak for production: use at least 32 random characters (e.g. openssl rand -hex 32), not a demo default`,
      );
    }
    const resolved: ResolvedPusherApp = { ...DEFAULT_PUSHER_APP_OPTIONS, id: app.id, key: app.key, secret: app.secret };
    for (const field of ['maxEventBytes', 'clientEventsPerSecond', 'maxPresenceMembers'] as const) {
      const value = app[field];
      if (value === undefined) continue;
      if (!Number.isInteger(value) || value < 1)
        throw new TypeError(`${where}.${field} must be a positive integer, got ${String(value)}`);
      resolved[field] = value;
    }
    if (app.clientEvents !== undefined) {
      if (typeof app.clientEvents !== 'boolean') throw new TypeError(`${where}.clientEvents must be a boolean`);
      resolved.clientEvents = app.clientEvents;
    }
    return resolved;
  });
  const resolved: ResolvedPusherOptions = { apps, ...DEFAULT_PUSHER_OPTIONS };
  for (const field of ['path', 'restPath'] as const) {
    const value = options[field];
    if (value === undefined) continue;
    if (
      typeof value !== 'string' ||
      !value.startsWith('/') ||
      value.length < 2 ||
      value.endsWith('/') ||
      value.includes('?')
    ) {
      throw new TypeError(
        `pusher.${field} must start with "/", not end with "/" and hold no query, got ${JSON.stringify(value)}`,
      );
    }
    resolved[field] = value;
  }
  if (options.activityTimeoutSec !== undefined) {
    const value = options.activityTimeoutSec;
    if (!Number.isInteger(value) || value < 1 || value > 3600) {
      throw new TypeError(`pusher.activityTimeoutSec must be an integer from 1 to 3600 seconds, got ${String(value)}`);
    }
    resolved.activityTimeoutSec = value;
  }
  if (resolved.path === resolved.restPath) throw new TypeError('pusher.path and pusher.restPath must differ');
  return resolved;
}
