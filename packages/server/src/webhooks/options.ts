import { APP_PREFIX, type ChannelName, compilePattern } from '@unisocket/core';
import type { BackoffOptions, BreakerOptions } from '@unisocket/queue';
import { DEFAULT_WEBHOOK_EVENTS, LIFECYCLE_EVENTS, type LifecycleEventName } from './events';

/** One webhook endpoint (`webhooks: [{ url, events?, channelPattern? }]`). */
export interface WebhookEndpointOptions {
  /** Where the events are POSTed: an `http:` or `https:` URL. */
  url: string;
  /**
   * The events sent to it.
   * @default ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed', 'cache_miss']
   */
  events?: LifecycleEventName[];
  /**
   * Only events on channels matching this pattern: a kind keyword (`public`, `private`, `presence`, `user`) or a
   * channel name with `*` wildcards (`presence-*`), matched against the channel without its app namespace. Events
   * without a channel (`connection_opened` / `connection_closed`) are not filtered by it.
   */
  channelPattern?: string;
  /**
   * The `X-Pusher-Key` header. @default the key of the endpoint's Pusher app (see `appId`); required with `secret`
   * when the Pusher transport is not configured
   */
  key?: string;
  /**
   * The secret that signs the body (`X-Pusher-Signature`), at least 16 characters. @default the secret of the
   * endpoint's Pusher app; required when the Pusher transport is not configured
   */
  secret?: string;
  /**
   * Which Pusher app's events: events on channels of another app's namespace go only to endpoints naming that app.
   * @default the first Pusher app (the namespace shared with the native and Socket.IO transports)
   */
  appId?: string;
  /** Extra request headers (an `Authorization`, say). They cannot replace the content type or the Pusher headers. */
  headers?: Record<string, string>;
  /** How long events wait to share one request, in ms. @default 50 */
  batchMs?: number;
  /** The most events in one request (Pusher limits one webhook body). @default 50 */
  maxBatch?: number;
  /** How long one request may take before it counts as failed, in ms. @default 5_000 */
  timeoutMs?: number;
  /** How long a batch is retried before it goes to the dead-letter queue, in ms. @default 3_600_000 (1 h) */
  retryForMs?: number;
  /**
   * The wait between attempts; a number is a fixed wait in ms.
   * @default { type: 'exponential', delayMs: 1_000, maxDelayMs: 60_000 }
   */
  backoff?: BackoffOptions | number;
  /** The endpoint's circuit breaker. @default { failureThreshold: 5, halfOpenAfterMs: 10_000 } (the queue's defaults) */
  breaker?: BreakerOptions;
}

/** Options every endpoint of `{ endpoints, ...defaults }` takes unless it sets its own. */
export type WebhookDefaults = Omit<WebhookEndpointOptions, 'url'>;

/** The object form of `webhooks`: endpoints and the defaults they share. */
export interface WebhooksConfig extends WebhookDefaults {
  endpoints: WebhookEndpointOptions[];
}

/** The `webhooks` option: an array of endpoints, or `{ endpoints, ...defaults }`. */
export type WebhooksOption = WebhookEndpointOptions[] | WebhooksConfig;

/** A Pusher app as the resolver needs it (the service's `pusher.apps`, first app first). */
export interface WebhookSigningApp {
  id: string;
  key: string;
  secret: string;
}

/** An endpoint with every default applied. */
export interface ResolvedWebhookEndpoint {
  /** Its position in the endpoint list. */
  readonly index: number;
  readonly url: string;
  /**
   * The URL without credentials, query or fragment (`https://host/path`): what events, breaker names, metrics and
   * queued jobs show, so a token in the URL stays out of them.
   */
  readonly safeUrl: string;
  readonly events: ReadonlySet<LifecycleEventName>;
  readonly channelPattern: string | undefined;
  /** `true` when the channel (without its app namespace) passes `channelPattern`. */
  readonly matchesChannel: (channel: ChannelName) => boolean;
  readonly key: string;
  readonly secret: string;
  /** The Pusher app, or `undefined` when the Pusher transport is not configured. */
  readonly appId: string | undefined;
  /** The app's Hub namespace: `''` for the first app (and without Pusher), `app:<id>:` for the others. */
  readonly appPrefix: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly batchMs: number;
  readonly maxBatch: number;
  readonly timeoutMs: number;
  readonly retryForMs: number;
  readonly backoff: BackoffOptions | number;
  readonly breaker: BreakerOptions;
  /** The name of its breaker in the registry: `webhook:<safeUrl>` (endpoints with one URL share it). */
  readonly breakerName: string;
}

/** Defaults of {@link WebhookEndpointOptions}. */
export const DEFAULT_WEBHOOK_OPTIONS = {
  batchMs: 50,
  maxBatch: 50,
  timeoutMs: 5_000,
  retryForMs: 3_600_000,
  backoff: { type: 'exponential', delayMs: 1_000, maxDelayMs: 60_000 },
} as const satisfies Pick<ResolvedWebhookEndpoint, 'batchMs' | 'maxBatch' | 'timeoutMs' | 'retryForMs' | 'backoff'>;

/** The most endpoints (every lifecycle event visits each one that takes its name). */
export const MAX_WEBHOOK_ENDPOINTS = 100;
/** The shortest secret an endpoint may sign with. */
export const MIN_WEBHOOK_SECRET_LENGTH = 16;

const ENDPOINT_KEYS: ReadonlySet<string> = new Set([
  'url',
  'events',
  'channelPattern',
  'key',
  'secret',
  'appId',
  'headers',
  'batchMs',
  'maxBatch',
  'timeoutMs',
  'retryForMs',
  'backoff',
  'breaker',
]);
const EVENT_NAMES: ReadonlySet<string> = new Set(LIFECYCLE_EVENTS);
/** Headers the dispatcher writes itself. */
const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'content-type',
  'content-length',
  'x-pusher-key',
  'x-pusher-signature',
]);
/** Hop-by-hop headers: the HTTP client's own (fetch refuses a request that sets them). */
const CLIENT_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'expect',
]);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Resolves the `webhooks` option. `apps` are the service's Pusher apps (first app first), empty when the Pusher
 * transport is not configured: they give an endpoint its default `appId`, `key` and `secret`.
 * @throws {TypeError} naming the field to change (`webhooks[1].secret must be …`)
 */
export function resolveWebhooks(
  option: WebhooksOption | undefined,
  apps: readonly WebhookSigningApp[] = [],
): ResolvedWebhookEndpoint[] {
  if (option === undefined) return [];
  let endpoints: unknown[];
  let defaults: Record<string, unknown> = {};
  if (Array.isArray(option)) {
    endpoints = option;
  } else if (isRecord(option) && Array.isArray(option.endpoints)) {
    const { endpoints: list, ...rest } = option;
    for (const key of Object.keys(rest)) {
      if (key === 'url' || !ENDPOINT_KEYS.has(key)) {
        throw new TypeError(
          `unknown webhooks option "${key}": the object form takes endpoints and the defaults ${[...ENDPOINT_KEYS].filter((k) => k !== 'url').join(', ')}`,
        );
      }
    }
    endpoints = list;
    defaults = rest;
  } else {
    throw new TypeError(
      'webhooks must be an array of endpoints [{ url, events?, channelPattern? }] or { endpoints: [...] }',
    );
  }
  if (endpoints.length > MAX_WEBHOOK_ENDPOINTS) {
    throw new TypeError(`webhooks has ${endpoints.length} endpoints; at most ${MAX_WEBHOOK_ENDPOINTS} are allowed`);
  }
  return endpoints.map((endpoint, index) => resolveEndpoint(endpoint, defaults, index, apps));
}

function resolveEndpoint(
  input: unknown,
  defaults: Record<string, unknown>,
  index: number,
  apps: readonly WebhookSigningApp[],
): ResolvedWebhookEndpoint {
  const at = `webhooks[${index}]`;
  if (!isRecord(input)) throw new TypeError(`${at} must be an object { url, events?, channelPattern? }`);
  for (const key of Object.keys(input)) {
    if (!ENDPOINT_KEYS.has(key)) {
      throw new TypeError(`unknown option ${at}.${key}: an endpoint takes ${[...ENDPOINT_KEYS].join(', ')}`);
    }
  }
  const merged: Record<string, unknown> = { ...defaults };
  for (const [key, value] of Object.entries(input)) if (value !== undefined) merged[key] = value;
  if (isRecord(defaults.headers) && isRecord(input.headers)) merged.headers = { ...defaults.headers, ...input.headers };

  const { url, safeUrl } = resolveUrl(merged.url, `${at}.url`);
  const events = resolveEvents(merged.events, `${at}.events`);
  let channelPattern: string | undefined;
  let matchesChannel: (channel: ChannelName) => boolean = () => true;
  if (merged.channelPattern !== undefined) {
    if (typeof merged.channelPattern !== 'string') {
      throw new TypeError(`${at}.channelPattern must be a string such as 'presence-*' or 'private'`);
    }
    channelPattern = merged.channelPattern;
    try {
      matchesChannel = compilePattern(channelPattern);
    } catch (error) {
      throw new TypeError(`${at}.channelPattern: ${(error as Error).message}`);
    }
  }

  let appId: string | undefined;
  let appPrefix = '';
  let app: WebhookSigningApp | undefined = apps[0];
  if (merged.appId !== undefined) {
    if (typeof merged.appId !== 'string') throw new TypeError(`${at}.appId must be the id of a Pusher app`);
    if (apps.length === 0) {
      throw new TypeError(
        `${at}.appId is ${JSON.stringify(merged.appId)} but the Pusher transport is not configured: remove appId or add the app to pusher.apps`,
      );
    }
    const position = apps.findIndex((a) => a.id === merged.appId);
    if (position < 0) {
      throw new TypeError(
        `${at}.appId ${JSON.stringify(merged.appId)} is not a configured Pusher app; use one of ${apps.map((a) => JSON.stringify(a.id)).join(', ')}`,
      );
    }
    app = apps[position]!;
    if (position > 0) appPrefix = `${APP_PREFIX}${app.id}:`;
  }
  if (app !== undefined) appId = app.id;

  const { key, secret } = resolveSigning(merged.key, merged.secret, app, at);
  const headers = resolveHeaders(merged.headers, `${at}.headers`);
  const batchMs = integer(merged.batchMs, `${at}.batchMs`, 0, 60_000) ?? DEFAULT_WEBHOOK_OPTIONS.batchMs;
  const maxBatch = integer(merged.maxBatch, `${at}.maxBatch`, 1, 1_000) ?? DEFAULT_WEBHOOK_OPTIONS.maxBatch;
  const timeoutMs = integer(merged.timeoutMs, `${at}.timeoutMs`, 1, 300_000) ?? DEFAULT_WEBHOOK_OPTIONS.timeoutMs;
  const retryForMs =
    integer(merged.retryForMs, `${at}.retryForMs`, 1, 30 * 86_400_000) ?? DEFAULT_WEBHOOK_OPTIONS.retryForMs;
  const backoff = resolveBackoff(merged.backoff, `${at}.backoff`);
  const breaker = resolveBreaker(merged.breaker, `${at}.breaker`);
  return {
    index,
    url,
    safeUrl,
    events,
    channelPattern,
    matchesChannel,
    key,
    secret,
    appId,
    appPrefix,
    headers,
    batchMs,
    maxBatch,
    timeoutMs,
    retryForMs,
    backoff,
    breaker,
    breakerName: `webhook:${safeUrl}`,
  };
}

function resolveUrl(value: unknown, at: string): { url: string; safeUrl: string } {
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`${at} must be an http(s) URL such as 'https://example.com/pusher/webhook'`);
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(`${at} is not a URL: ${JSON.stringify(value)}; give an absolute http(s) URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(
      `${at} must use http: or https:, got ${JSON.stringify(url.protocol)} in ${JSON.stringify(value)}`,
    );
  }
  return { url: value, safeUrl: `${url.protocol}//${url.host}${url.pathname}` };
}

function resolveEvents(value: unknown, at: string): ReadonlySet<LifecycleEventName> {
  if (value === undefined) return new Set(DEFAULT_WEBHOOK_EVENTS);
  if (!Array.isArray(value) || value.length === 0) {
    throw new TypeError(
      `${at} must be a non-empty array of ${LIFECYCLE_EVENTS.join(', ')} (leave it out for the defaults)`,
    );
  }
  for (const name of value) {
    if (typeof name !== 'string' || !EVENT_NAMES.has(name)) {
      throw new TypeError(`${at} has an unknown event ${JSON.stringify(name)}; use ${LIFECYCLE_EVENTS.join(', ')}`);
    }
  }
  return new Set(value as LifecycleEventName[]);
}

function resolveSigning(
  key: unknown,
  secret: unknown,
  app: WebhookSigningApp | undefined,
  at: string,
): { key: string; secret: string } {
  if (key !== undefined && (typeof key !== 'string' || !/^[\x21-\x7e]{1,256}$/.test(key))) {
    throw new TypeError(`${at}.key must be 1–256 visible ASCII characters (it is sent as X-Pusher-Key)`);
  }
  if (secret !== undefined && (typeof secret !== 'string' || secret.length < MIN_WEBHOOK_SECRET_LENGTH)) {
    throw new TypeError(`${at}.secret must be a string of at least ${MIN_WEBHOOK_SECRET_LENGTH} characters`);
  }
  if (secret === undefined) {
    if (app === undefined) {
      throw new TypeError(
        `${at} has no signing secret: set ${at}.secret (at least ${MIN_WEBHOOK_SECRET_LENGTH} characters) and ${at}.key, or configure a Pusher app (pusher.apps) whose key and secret sign the webhooks`,
      );
    }
    if (key !== undefined && key !== app.key) {
      throw new TypeError(
        `${at}.key differs from Pusher app ${JSON.stringify(app.id)}'s key but no ${at}.secret is set: set ${at}.secret too, or remove ${at}.key`,
      );
    }
    return { key: app.key, secret: app.secret };
  }
  if (key === undefined) {
    if (app === undefined) {
      throw new TypeError(
        `${at}.key is missing: set ${at}.key (the X-Pusher-Key receivers check) next to ${at}.secret, or configure a Pusher app`,
      );
    }
    return { key: app.key, secret: secret as string };
  }
  return { key: key as string, secret: secret as string };
}

function resolveHeaders(value: unknown, at: string): Readonly<Record<string, string>> {
  if (value === undefined) return {};
  if (!isRecord(value)) throw new TypeError(`${at} must be an object of header names to string values`);
  const entries = Object.entries(value);
  if (entries.length > 32) throw new TypeError(`${at} has ${entries.length} headers; at most 32 are allowed`);
  const headers: Record<string, string> = {};
  for (const [name, header] of entries) {
    if (!HEADER_NAME.test(name)) throw new TypeError(`${at} has an invalid header name ${JSON.stringify(name)}`);
    if (RESERVED_HEADERS.has(name.toLowerCase())) {
      throw new TypeError(`${at}.${name} cannot be set: the dispatcher writes Content-Type and the X-Pusher headers`);
    }
    if (CLIENT_HEADERS.has(name.toLowerCase())) {
      throw new TypeError(`${at}.${name} cannot be set: it is a hop-by-hop header the HTTP client manages`);
    }
    // an HTTP header value is Latin-1 text: fetch refuses anything else on every request
    if (typeof header !== 'string' || /[^\t\x20-\x7e\x80-\xff]/.test(header) || header.length > 8_192) {
      throw new TypeError(
        `${at}.${name} must be a string without line breaks, of Latin-1 characters, at most 8192 characters`,
      );
    }
    headers[name] = header;
  }
  return headers;
}

function resolveBackoff(value: unknown, at: string): BackoffOptions | number {
  if (value === undefined) return { ...DEFAULT_WEBHOOK_OPTIONS.backoff };
  if (typeof value === 'number') return integer(value, at, 0, 86_400_000)!;
  if (!isRecord(value)) {
    throw new TypeError(`${at} must be a fixed wait in ms or { type?: 'exponential' | 'fixed', delayMs, maxDelayMs? }`);
  }
  for (const key of Object.keys(value)) {
    if (key !== 'type' && key !== 'delayMs' && key !== 'maxDelayMs') {
      throw new TypeError(`unknown option ${at}.${key}: backoff takes type, delayMs, maxDelayMs`);
    }
  }
  const type = value.type ?? 'exponential';
  if (type !== 'exponential' && type !== 'fixed') {
    throw new TypeError(`${at}.type must be 'exponential' or 'fixed', got ${JSON.stringify(value.type)}`);
  }
  const delayMs = integer(value.delayMs, `${at}.delayMs`, 0, 86_400_000);
  if (delayMs === undefined) throw new TypeError(`${at}.delayMs is required: the first wait in ms`);
  const maxDelayMs =
    integer(value.maxDelayMs, `${at}.maxDelayMs`, 0, 86_400_000) ?? DEFAULT_WEBHOOK_OPTIONS.backoff.maxDelayMs;
  if (type === 'exponential' && maxDelayMs < delayMs) {
    throw new TypeError(`${at}.maxDelayMs (${maxDelayMs}) must be at least ${at}.delayMs (${delayMs})`);
  }
  return type === 'fixed' ? { type, delayMs } : { type, delayMs, maxDelayMs };
}

function resolveBreaker(value: unknown, at: string): BreakerOptions {
  if (value === undefined) return {};
  if (!isRecord(value)) throw new TypeError(`${at} must be { failureThreshold?, halfOpenAfterMs? }`);
  const breaker: BreakerOptions = {};
  for (const key of Object.keys(value)) {
    if (key !== 'failureThreshold' && key !== 'halfOpenAfterMs') {
      throw new TypeError(`unknown option ${at}.${key}: a breaker takes failureThreshold, halfOpenAfterMs`);
    }
  }
  const failureThreshold = integer(value.failureThreshold, `${at}.failureThreshold`, 1, 1_000_000);
  if (failureThreshold !== undefined) breaker.failureThreshold = failureThreshold;
  const halfOpenAfterMs = integer(value.halfOpenAfterMs, `${at}.halfOpenAfterMs`, 1, 86_400_000);
  if (halfOpenAfterMs !== undefined) breaker.halfOpenAfterMs = halfOpenAfterMs;
  return breaker;
}

function integer(value: unknown, at: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`${at} must be an integer from ${min} to ${max}, got ${show(value)}`);
  }
  return value;
}

function show(value: unknown): string {
  return typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? String(value));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
