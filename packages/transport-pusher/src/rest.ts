import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ResolvedPusherApp } from './options';
import { verifyRestRequest } from './rest-auth';
import { RestError, readEvent, readEvents } from './rest-events';
import type { PusherChannelState, PusherRestHost } from './rest-host';

export * from './rest-auth';
export * from './rest-authorize';
export * from './rest-events';
export * from './rest-host';

/** Options of {@link createPusherRestHandler}. */
export interface PusherRestHandlerOptions {
  /** The path prefix: requests go to `{restPath}/{app id}/…`. @default '/apps' */
  restPath?: string;
  /**
   * Reads a request body within limits, rejecting with an error that carries `status` (413, 408, 503, …) and a
   * message; it answers nothing itself. The unisocket server passes its bounded body reader (`http.maxBodyBytes`,
   * `http.maxPendingBodyBytes`, …). @default a reader of at most `maxBodyBytes`
   */
  readBody?(req: IncomingMessage, res: ServerResponse): Promise<Buffer>;
  /** Drops an unread body after an early answer (so the connection can be reused). @default read and dropped */
  discardBody?(req: IncomingMessage, res: ServerResponse): void;
  /** The largest body the default reader takes, in bytes. @default 1_048_576 */
  maxBodyBytes?: number;
  /** The clock (epoch ms), for `auth_timestamp`. @default Date.now */
  now?(): number;
  /** Called with the status of every answered request (metrics). */
  onAnswer?(status: number): void;
}

/** A Pusher REST handler: `true` when the request was under `restPath` (it is answered), `false` to pass it on. */
export type PusherRestHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

const ERROR_NAMES: Readonly<Record<number, string>> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  408: 'TIMEOUT',
  413: 'PAYLOAD_TOO_LARGE',
  503: 'UNAVAILABLE',
};

type Route =
  | { kind: 'events' | 'batch_events' | 'channels'; method: 'GET' | 'POST' }
  | { kind: 'channel' | 'users'; method: 'GET'; channel: string }
  | { kind: 'terminate'; method: 'POST'; userId: string };

/**
 * The Pusher HTTP API (`POST events`, `POST batch_events`, `GET channels`, `GET channels/{name}`,
 * `GET channels/{name}/users`, `POST users/{id}/terminate_connections`) under `{restPath}/{app id}/`, signed as
 * Pusher signs it (see {@link verifyRestRequest}), over a {@link PusherRestHost}. Answers: 200 with Pusher's JSON;
 * 400 bad request, 401 bad signature / unknown key / stale timestamp / wrong `body_md5`, 403 reserved event names,
 * 404 unknown app or path, 405 wrong method, 413 an event's `data` over the app's `maxEventBytes` (or a body over
 * the body limit), each as `{ error, message }`.
 */
export function createPusherRestHandler(
  host: PusherRestHost,
  options: PusherRestHandlerOptions = {},
): PusherRestHandler {
  const restPath = options.restPath ?? '/apps';
  const now = options.now ?? Date.now;
  const readBody = options.readBody ?? defaultReader(options.maxBodyBytes ?? 1_048_576);
  const discard = options.discardBody ?? ((req: IncomingMessage) => req.resume());
  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (!path.startsWith(`${restPath}/`)) return false;
    const rawQuery = q === -1 ? '' : url.slice(q + 1);
    const method = (req.method ?? 'GET').toUpperCase();
    if (options.onAnswer !== undefined) {
      const onAnswer = options.onAnswer;
      res.once('finish', () => onAnswer(res.statusCode));
    }
    const fail = (error: unknown): void => {
      const status = statusOf(error);
      const message = error instanceof Error ? error.message : String(error);
      if (status === 503) res.setHeader('Retry-After', '1');
      json(res, status, { error: ERROR_NAMES[status] ?? 'INTERNAL', message });
    };
    const [appId = '', ...rest] = path.slice(restPath.length + 1).split('/');
    const app = host.apps.find((a) => a.id === safeDecode(appId));
    const route = matchRoute(rest);
    const early = (error: RestError): true => {
      if (method !== 'GET' && method !== 'HEAD') discard(req, res);
      fail(error);
      return true;
    };
    if (app === undefined) return early(new RestError(404, `unknown app id ${JSON.stringify(safeDecode(appId))}`));
    if (route === undefined) return early(new RestError(404, `no Pusher REST endpoint at ${path}`));
    if (route.method !== method) {
      res.setHeader('Allow', route.method);
      return early(new RestError(405, `use ${route.method} for ${path}`));
    }
    const body = method === 'POST' ? readBody(req, res) : Promise.resolve(undefined);
    body
      .then((bytes) => {
        const refusal = verifyRestRequest(app, { method, path, rawQuery, body: bytes }, now() / 1000);
        if (refusal !== undefined) throw new RestError(refusal.status, refusal.message);
        return serve(host, app, route, bytes, rawQuery);
      })
      .then((answer) => json(res, 200, answer), fail);
    return true;
  };
}

async function serve(
  host: PusherRestHost,
  app: ResolvedPusherApp,
  route: Route,
  body: Buffer | undefined,
  rawQuery: string,
): Promise<unknown> {
  const params = new URLSearchParams(rawQuery);
  switch (route.kind) {
    case 'events': {
      const event = readEvent(app, parseBody(body));
      await host.publish(app, event.channels, event.name, event.data, event.socketId);
      if (event.info.length === 0) return {};
      const channels: Record<string, unknown> = {};
      for (const name of event.channels) {
        channels[name] = describe(await host.channel(app, name), event.info);
      }
      return { channels };
    }
    case 'batch_events': {
      const events = readEvents(app, parseBody(body));
      await Promise.all(events.map((e) => host.publish(app, e.channels, e.name, e.data, e.socketId)));
      if (events.every((e) => e.info.length === 0)) return {};
      const batch = await Promise.all(
        events.map(async (e) => describe(await host.channel(app, e.channels[0]!), e.info)),
      );
      return { batch };
    }
    case 'channels': {
      const prefix = params.get('filter_by_prefix') ?? '';
      const info = readInfo(params);
      if (info.includes('user_count') && !prefix.startsWith('presence-')) {
        throw new RestError(
          400,
          'info=user_count needs filter_by_prefix=presence- (only presence channels have users)',
        );
      }
      const channels: Record<string, unknown> = {};
      for (const state of await host.channels(app, prefix)) channels[state.name] = describe(state, info);
      return { channels };
    }
    case 'channel': {
      const info = readInfo(params);
      const presence = route.channel.startsWith('presence-');
      if (info.includes('user_count') && !presence) {
        throw new RestError(400, `info=user_count is only for presence channels, not ${route.channel}`);
      }
      const state = await host.channel(app, route.channel);
      const occupied = state.subscriptionCount > 0 || (state.userCount ?? 0) > 0;
      return { occupied, ...describe(state, info) };
    }
    case 'users': {
      if (!route.channel.startsWith('presence-')) {
        throw new RestError(400, `users are listed for presence channels only, not ${route.channel}`);
      }
      return { users: await host.users(app, route.channel) };
    }
    case 'terminate': {
      if (route.userId === '' || route.userId.length > 200)
        throw new RestError(400, 'the user id must be 1-200 characters');
      await host.terminateUser(app, route.userId);
      return {};
    }
  }
}

function matchRoute(parts: string[]): Route | undefined {
  const [a, b, c, ...more] = parts;
  if (more.length > 0) return undefined;
  if (b === undefined) {
    if (a === 'events' || a === 'batch_events') return { kind: a, method: 'POST' };
    if (a === 'channels') return { kind: 'channels', method: 'GET' };
    return undefined;
  }
  if (a === 'channels' && b !== '' && c === undefined)
    return { kind: 'channel', method: 'GET', channel: safeDecode(b) };
  if (a === 'channels' && b !== '' && c === 'users') return { kind: 'users', method: 'GET', channel: safeDecode(b) };
  if (a === 'users' && c === 'terminate_connections')
    return { kind: 'terminate', method: 'POST', userId: safeDecode(b) };
  return undefined;
}

function readInfo(params: URLSearchParams): string[] {
  const info = (params.get('info') ?? '').split(',').filter((s) => s !== '');
  for (const attribute of info) {
    if (attribute !== 'user_count' && attribute !== 'subscription_count') {
      throw new RestError(
        400,
        `unknown info attribute ${JSON.stringify(attribute)}: use user_count, subscription_count`,
      );
    }
  }
  return info;
}

function describe(state: PusherChannelState, info: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  if (info.includes('user_count') && state.userCount !== undefined) out.user_count = state.userCount;
  if (info.includes('subscription_count')) out.subscription_count = state.subscriptionCount;
  return out;
}

function parseBody(body: Buffer | undefined): unknown {
  const text = body?.toString('utf8') ?? '';
  if (text.trim() === '') throw new RestError(400, 'the body is empty: send a JSON object');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new RestError(400, `the body is not valid JSON: ${(error as Error).message}`);
  }
}

function statusOf(error: unknown): number {
  if (error instanceof RestError) return error.status;
  const { status, code } = (error ?? {}) as { status?: unknown; code?: unknown };
  if (typeof status === 'number' && status >= 400 && status < 600) return status;
  if (code === 'BAD_REQUEST') return 400;
  if (code === 'FORBIDDEN') return 403;
  if (code === 'PAYLOAD_TOO_LARGE') return 413;
  if (code === 'UNAVAILABLE') return 503;
  return 500;
}

function defaultReader(maxBodyBytes: number): (req: IncomingMessage) => Promise<Buffer> {
  return (req) =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBodyBytes) {
          reject(new RestError(413, `the body is larger than ${maxBodyBytes} bytes`));
          req.destroy();
          return;
        }
        chunks.push(chunk);
      });
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.setHeader('Cache-Control', 'no-store');
  res.end(text);
}
