import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type ChannelName,
  ErrorCode,
  type PublishAck,
  type PublishOptions,
  checkEventName,
  checkMessageId,
  isUnisocketError,
} from '@unisocket/core';
import type { HealthStatus } from '@unisocket/monitoring';
import { type CorsOptions, DEFAULT_HTTP_PATHS, type HttpOptions, type HttpPaths } from './options';
import { type BodyLimits, BodyReader, type BodyUsage, HttpError, closeAfterAnswer, resolveBodyLimits } from './body';

/**
 * The HTTP API as one handler: plain `node:http` (`(req, res)`), Express middleware (`(req, res, next)`), or
 * Fastify (see `fastifyPlugin`). Requests for other paths go to `next` when given, else get a 404.
 */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => void;

/** The endpoints of the HTTP API (also the `endpoint` label of `unisocket_http_requests_total`). */
export type HttpEndpoint = keyof HttpPaths;

/** The methods each endpoint answers (others get 405 with an `Allow` header). */
export const HTTP_METHODS: Readonly<Record<HttpEndpoint, readonly string[]>> = {
  health: ['GET', 'HEAD'],
  stats: ['GET', 'HEAD'],
  metrics: ['GET', 'HEAD'],
  status: ['GET', 'HEAD'],
  broadcast: ['POST'],
  queue: ['GET', 'HEAD', 'POST', 'DELETE'],
};

/** The most messages one `POST /broadcast` batch may hold. */
export const MAX_BROADCAST_BATCH = 1_000;

/** @internal The HTTP API: the routing handler, and the per-endpoint handler that framework adapters call. */
export interface HttpApi {
  readonly paths: Readonly<HttpPaths>;
  readonly handler: HttpHandler;
  handle(endpoint: HttpEndpoint, req: IncomingMessage, res: ServerResponse): void;
  /** What the request bodies being read hold now (bytes, count) and at most so far. */
  bodyUsage(): BodyUsage;
}

/** What the HTTP API serves from: the service, seen through the few things the endpoints need. */
export interface HttpApiHost {
  /** `POST /broadcast`: publishes one message. */
  broadcast(channel: ChannelName, event: string, data?: unknown, options?: PublishOptions): Promise<PublishAck>;
  /** `POST /broadcast` with `delayMs` (or `attempts`, `priority`, `jobId`): queues it (`service.queue.broadcast`). */
  enqueue?(channel: ChannelName, event: string, data: unknown, options: QueuedItemOptions): Promise<QueuedItem>;
  /**
   * The job queue API under `paths.queue` (API key checked before): answers the request, `path` being what follows
   * `paths.queue` (`''`, `/dead-letters`, `/dead-letters/<queue>/<id>/retry`, …).
   */
  queueRequest?(req: IncomingMessage, res: ServerResponse, path: string, body: () => Promise<unknown>): void;
  /** `GET /health` (503 when `unhealthy`). */
  health(): HealthStatus;
  /** `GET /stats`. */
  stats(): unknown;
  /** `GET /api/websocket/status`. */
  diagnostics(): unknown;
  /** `GET /metrics`: the exposition text and its content type. */
  metrics(): Promise<string>;
  readonly metricsContentType: string;
  /** Counts an answered request (`unisocket_http_requests_total`). */
  recordRequest(endpoint: HttpEndpoint, status: number): void;
  /**
   * Routes served before the endpoints (the Pusher REST API under `{restPath}/{app id}/…` when the service runs
   * Pusher apps), created once with the API's bounded body reading.
   */
  routes?(bodies: HttpRouteBodies): HttpRoute | undefined;
}

/** The queue options a `POST /broadcast` message may carry. */
export interface QueuedItemOptions {
  delayMs?: number;
  attempts?: number;
  priority?: number;
  jobId?: string;
}

/** What a queued `POST /broadcast` message answers. */
export interface QueuedItem {
  jobId: string;
  /** When it will be published (epoch ms). */
  runAt: number;
}

/** A route of the HTTP API: `true` when it answers the request, `false` to pass it on. */
export type HttpRoute = (req: IncomingMessage, res: ServerResponse) => boolean;

/** The HTTP API's bounded body reading (`http.maxBodyBytes`, …), for {@link HttpApiHost.routes}. */
export interface HttpRouteBodies {
  /** Reads a body within the limits; rejects with `{ status, message }` (413, 408, 503, …) and closes when it must. */
  readBody(req: IncomingMessage, res: ServerResponse): Promise<Buffer>;
  /** Drops an unread body after an early answer. */
  discardBody(req: IncomingMessage, res: ServerResponse): void;
}

/** The HTTP options, validated: paths, the API key's hash, CORS and the body limits. */
export interface ResolvedHttpOptions {
  paths: HttpPaths;
  apiKeyHash: Buffer | undefined;
  cors: ResolvedCors | undefined;
  bodyLimits: BodyLimits;
}

/** Validates the `http` options, throwing a `TypeError` that says what to change. */
export function resolveHttpOptions(options: HttpOptions = {}): ResolvedHttpOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('http must be an object');
  const paths: HttpPaths = { ...DEFAULT_HTTP_PATHS, ...options.paths };
  for (const [name, path] of Object.entries(paths)) {
    if (!(name in DEFAULT_HTTP_PATHS)) {
      throw new TypeError(`unknown http.paths.${name}; known paths: ${Object.keys(DEFAULT_HTTP_PATHS).join(', ')}`);
    }
    if (typeof path !== 'string' || !path.startsWith('/') || path.includes('?')) {
      throw new TypeError(`http.paths.${name} must start with "/" and hold no query, got ${JSON.stringify(path)}`);
    }
  }
  if (new Set(Object.values(paths)).size !== Object.keys(paths).length) {
    throw new TypeError(`http.paths must all differ, got ${JSON.stringify(paths)}`);
  }
  const bodyLimits = resolveBodyLimits(options);
  if (options.apiKey !== undefined && (typeof options.apiKey !== 'string' || options.apiKey.length === 0)) {
    throw new TypeError('http.apiKey must be a non-empty string');
  }
  return {
    paths,
    apiKeyHash: options.apiKey === undefined ? undefined : sha256(options.apiKey),
    cors: resolveCors(options.cors),
    bodyLimits,
  };
}

const bodyReaders = new WeakMap<object, BodyReader>();

/**
 * @internal What the request bodies a service's HTTP API is reading hold: `pendingBytes` (never over
 * `http.maxPendingBodyBytes`), `activeBodies`, their peaks, and the bodies refused (503) and timed out (408).
 */
export function httpBodyUsage(owner: object): BodyUsage | undefined {
  return bodyReaders.get(owner)?.usage();
}

/** @internal The HTTP API of `host`; `owner` (the service) is what {@link httpBodyUsage} finds it by. */
export function createHttpApi(host: HttpApiHost, options: ResolvedHttpOptions, owner: object = host): HttpApi {
  const { paths, cors, apiKeyHash } = options;
  const bodies = new BodyReader(options.bodyLimits);
  bodyReaders.set(owner, bodies);
  const byPath = new Map<string, HttpEndpoint>();
  for (const [name, path] of Object.entries(paths) as [HttpEndpoint, string][]) byPath.set(path, name);
  const route = host.routes?.({
    readBody: (req, res) =>
      bodies.read(req).catch((error: unknown) => {
        if (error instanceof HttpError && error.close) closeAfterAnswer(req, res);
        throw error;
      }),
    discardBody: (req, res) => bodies.discard(req, res),
  });

  const handle = (endpoint: HttpEndpoint, req: IncomingMessage, res: ServerResponse): void => {
    const method = req.method ?? 'GET';
    res.once('finish', () => host.recordRequest(endpoint, res.statusCode));
    if (cors !== undefined && !applyCors(cors, req, res, method, HTTP_METHODS[endpoint])) return;
    if (!allow(res, method, HTTP_METHODS[endpoint])) return;
    switch (endpoint) {
      case 'health': {
        const health = host.health();
        json(res, health.status === 'unhealthy' ? 503 : 200, health);
        return;
      }
      case 'stats':
        json(res, 200, host.stats());
        return;
      case 'status':
        json(res, 200, host.diagnostics());
        return;
      case 'metrics':
        host.metrics().then(
          (text) => send(res, 200, host.metricsContentType, text),
          (error: unknown) =>
            json(res, 500, {
              error: ErrorCode.INTERNAL,
              message: `metrics failed: ${error instanceof Error ? error.message : String(error)}`,
            }),
        );
        return;
      case 'broadcast': {
        if (!authorized(req, res, paths.broadcast)) return;
        readJson(req, res, bodies).then(
          (body) => publishBody(host, body, res),
          (error: unknown) => answerBodyError(req, res, error),
        );
        return;
      }
      case 'queue': {
        if (!authorized(req, res, paths.queue)) return;
        if (host.queueRequest === undefined) {
          json(res, 404, { error: ErrorCode.NOT_FOUND, message: 'this service has no job queue' });
          bodies.discard(req, res);
          return;
        }
        const url = req.url ?? '/';
        const q = url.indexOf('?');
        const path = (q === -1 ? url : url.slice(0, q)).slice(paths.queue.length);
        let read: Promise<unknown> | undefined;
        const body = (): Promise<unknown> => {
          read ??= readJson(req, res, bodies).catch((error: unknown) => {
            answerBodyError(req, res, error);
            throw error;
          });
          return read;
        };
        host.queueRequest(req, res, path, body);
        return;
      }
    }
  };

  /** `true` when the request carries the API key; otherwise answers 403 (no key configured) or 401. */
  const authorized = (req: IncomingMessage, res: ServerResponse, path: string): boolean => {
    if (apiKeyHash === undefined) {
      json(res, 403, {
        error: ErrorCode.FORBIDDEN,
        message: `${path} is disabled: set http.apiKey (API_KEY) to enable it`,
      });
      bodies.discard(req, res);
      return false;
    }
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (match === null || !timingSafeEqual(sha256(match[1]!.trim()), apiKeyHash)) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      json(res, 401, {
        error: ErrorCode.UNAUTHORIZED,
        message: 'a valid API key is required: send "Authorization: Bearer <api key>"',
      });
      bodies.discard(req, res);
      return false;
    }
    return true;
  };

  const handler: HttpHandler = (req, res, next) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const endpoint = byPath.get(path) ?? (path.startsWith(`${paths.queue}/`) ? 'queue' : undefined);
    if (endpoint !== undefined) {
      handle(endpoint, req, res);
      return;
    }
    if (route?.(req, res) === true) return;
    if (next !== undefined) {
      next();
      return;
    }
    json(res, 404, { error: ErrorCode.NOT_FOUND, message: `no route for ${req.method ?? 'GET'} ${path}` });
  };

  return { paths, handler, handle, bodyUsage: () => bodies.usage() };
}

interface BroadcastItem extends QueuedItemOptions {
  channel: string;
  event: string;
  data?: unknown;
  id?: string;
}

const QUEUE_FIELDS = ['delayMs', 'attempts', 'priority', 'jobId'] as const;

/** `true` when a message asks to be queued (any of {@link QUEUE_FIELDS}). */
function isQueued(item: BroadcastItem): boolean {
  return QUEUE_FIELDS.some((field) => item[field] !== undefined);
}

function queueOptions(item: BroadcastItem): QueuedItemOptions {
  const out: QueuedItemOptions = {};
  for (const field of QUEUE_FIELDS)
    if (item[field] !== undefined) (out as Record<string, unknown>)[field] = item[field];
  return out;
}

function publishBody(host: HttpApiHost, body: unknown, res: ServerResponse): void {
  const batch = Array.isArray(body) ? body : isObject(body) && Array.isArray(body.messages) ? body.messages : undefined;
  const items: unknown[] = batch ?? [body];
  if (items.length === 0 || items.length > MAX_BROADCAST_BATCH) {
    json(res, 400, {
      error: ErrorCode.BAD_REQUEST,
      message: `a batch holds 1 to ${MAX_BROADCAST_BATCH} messages, got ${items.length}`,
    });
    return;
  }
  for (let i = 0; i < items.length; i++) {
    const problem = validateItem(items[i]);
    if (problem !== undefined) {
      json(res, 400, {
        error: ErrorCode.BAD_REQUEST,
        message: batch === undefined ? problem : `messages[${i}]: ${problem}`,
      });
      return;
    }
  }
  // each message is validated by the Hub as it is published: a bad one fails with its index
  const acks = (items as BroadcastItem[]).map((m, i) =>
    Promise.resolve()
      .then((): Promise<PublishAck | QueuedItem> => {
        if (!isQueued(m)) return host.broadcast(m.channel, m.event, m.data, m.id === undefined ? {} : { id: m.id });
        if (host.enqueue === undefined) throw new TypeError('this service has no job queue: delayMs is not available');
        return host.enqueue(m.channel, m.event, m.data, queueOptions(m));
      })
      .catch((error: unknown) => {
        throw Object.assign(error instanceof Error ? error : new Error(String(error)), { batchIndex: i });
      }),
  );
  Promise.all(acks).then(
    (results) => {
      const out = results.map((a) =>
        'jobId' in a
          ? { jobId: a.jobId, runAt: a.runAt }
          : {
              id: a.id,
              channel: a.channel,
              offset: a.offset,
              ...(a.duplicate === true ? { duplicate: true } : {}),
            },
      );
      if (batch !== undefined) {
        json(res, 202, { results: out });
        return;
      }
      const { channel: _channel, ...single } = out[0]! as Record<string, unknown>;
      json(res, 202, single);
    },
    (error: Error & { batchIndex?: number }) => {
      const code = isUnisocketError(error)
        ? error.code
        : error instanceof TypeError
          ? ErrorCode.BAD_REQUEST
          : ErrorCode.INTERNAL;
      const status = code === ErrorCode.BAD_REQUEST ? 400 : code === ErrorCode.UNAVAILABLE ? 503 : 500;
      const prefix = batch === undefined || error.batchIndex === undefined ? '' : `messages[${error.batchIndex}]: `;
      if (status === 503) res.setHeader('Retry-After', '1');
      json(res, status, { error: code, message: prefix + error.message });
    },
  );
}

/** Answers a body that could not be read (413, 408, 415, 400, 503…). */
function answerBodyError(req: IncomingMessage, res: ServerResponse, error: unknown): void {
  if (res.headersSent) return;
  if (!(error instanceof HttpError)) {
    json(res, 500, {
      error: ErrorCode.INTERNAL,
      message: `reading the body failed: ${error instanceof Error ? error.message : String(error)}`,
    });
    return;
  }
  if (error.close) closeAfterAnswer(req, res);
  if (error.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(error.retryAfterSeconds));
  json(res, error.status, { error: error.code, message: error.message });
}

/** @internal Writes a JSON answer (no-store). */
export function answerJson(res: ServerResponse, status: number, body: unknown): void {
  json(res, status, body);
}

function validateItem(item: unknown): string | undefined {
  if (!isObject(item)) return 'the body must be a JSON object {"channel": string, "event": string, "data": any}';
  if (item.id !== undefined && isQueued(item as unknown as BroadcastItem)) {
    return '"id" (an idempotency key) applies to a message published at once; a queued one takes "jobId" (each try publishes with the job\'s own key)';
  }
  // the channel's own rule is the Hub's (its error names it); here only its presence is checked
  if (typeof item.channel !== 'string' || item.channel.length === 0) return '"channel" must be a non-empty string';
  return checkEventName(item.event) ?? (item.id === undefined ? undefined : checkMessageId(item.id));
}

/**
 * Reads a JSON body within the body limits (see `BodyReader`). A body a framework already parsed (`req.body`:
 * Express `express.json()`, or Fastify's when passed on) is used as it is; the content type must still be JSON, and a
 * declared `Content-Length` over `http.maxBodyBytes` is still refused.
 */
function readJson(req: IncomingMessage, res: ServerResponse, bodies: BodyReader): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/([\w.+-]+\+)?json\s*(;|$)/i.test(type)) {
    bodies.discard(req, res);
    return Promise.reject(
      new HttpError(
        415,
        ErrorCode.BAD_REQUEST,
        `send the body as Content-Type: application/json (got ${JSON.stringify(type)})`,
      ),
    );
  }
  const tooLarge = bodies.checkDeclared(req);
  if (tooLarge !== undefined) return Promise.reject(tooLarge);
  // a JSON body a framework already parsed (any JSON value, a string included), or read raw (a Buffer)
  const parsed = (req as { body?: unknown }).body;
  if (Buffer.isBuffer(parsed)) return parseJsonText(parsed.toString('utf8'));
  if (parsed !== undefined) return Promise.resolve(parsed);
  if (req.readableEnded) {
    return Promise.reject(
      new HttpError(400, ErrorCode.BAD_REQUEST, 'the request body was already consumed and not passed on as req.body'),
    );
  }
  return bodies.read(req).then((body) => parseJsonText(body.toString('utf8')));
}

function parseJsonText(text: string): Promise<unknown> {
  if (text.trim() === '') {
    return Promise.reject(
      new HttpError(400, ErrorCode.BAD_REQUEST, 'the body is empty: send {"channel", "event", "data"}'),
    );
  }
  try {
    return Promise.resolve(JSON.parse(text));
  } catch (error) {
    return Promise.reject(
      new HttpError(400, ErrorCode.BAD_REQUEST, `the body is not valid JSON: ${(error as Error).message}`),
    );
  }
}

export interface ResolvedCors {
  any: boolean;
  origins: ReadonlySet<string>;
  maxAgeSeconds: number;
}

function resolveCors(cors: CorsOptions | undefined): ResolvedCors | undefined {
  if (cors === undefined) return undefined;
  if (typeof cors !== 'object' || cors === null)
    throw new TypeError('http.cors must be { origin: "*" | string | string[] }');
  const list = typeof cors.origin === 'string' ? cors.origin.split(',').map((o) => o.trim()) : cors.origin;
  if (!Array.isArray(list) || list.length === 0 || list.some((o) => typeof o !== 'string' || o.length === 0)) {
    throw new TypeError('http.cors.origin must be "*", an origin, a comma-separated list or an array of origins');
  }
  const maxAgeSeconds = cors.maxAgeSeconds ?? 600;
  if (!Number.isInteger(maxAgeSeconds) || maxAgeSeconds < 0) {
    throw new TypeError(`http.cors.maxAgeSeconds must be an integer >= 0, got ${String(cors.maxAgeSeconds)}`);
  }
  return { any: list.includes('*'), origins: new Set(list), maxAgeSeconds };
}

/** Sets the CORS headers; answers a preflight (204). Returns `false` when the request was answered. */
function applyCors(
  cors: ResolvedCors,
  req: IncomingMessage,
  res: ServerResponse,
  method: string,
  methods: readonly string[],
): boolean {
  const origin = req.headers.origin;
  const allowed = origin !== undefined && (cors.any || cors.origins.has(origin));
  if (allowed) {
    res.setHeader('Access-Control-Allow-Origin', cors.any ? '*' : origin);
    if (!cors.any) res.setHeader('Vary', 'Origin');
  }
  if (method !== 'OPTIONS') return true;
  if (allowed) {
    res.setHeader('Access-Control-Allow-Methods', [...methods, 'OPTIONS'].join(', '));
    res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type');
    res.setHeader('Access-Control-Max-Age', String(cors.maxAgeSeconds));
  }
  res.statusCode = 204;
  res.setHeader('Allow', [...methods, 'OPTIONS'].join(', '));
  res.end();
  return false;
}

function allow(res: ServerResponse, method: string, methods: readonly string[]): boolean {
  if (methods.includes(method)) return true;
  res.setHeader('Allow', methods.join(', '));
  json(res, 405, {
    error: ErrorCode.BAD_REQUEST,
    message: `method ${method} is not allowed here: use ${methods.join(' or ')}`,
  });
  return false;
}

function send(res: ServerResponse, status: number, contentType: string, text: string): void {
  if (res.headersSent) return;
  res.statusCode = status;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.setHeader('Cache-Control', 'no-store');
  res.end(text);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(body));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
