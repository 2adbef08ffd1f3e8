import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode } from '@unisocket/core';
import type { HttpRoute, HttpRouteBodies } from '../http';
import {
  AdminError,
  type AdminAnswer,
  type AdminService,
  channelHistory,
  channelInfo,
  channelParam,
  disconnect,
  listChannels,
  listConnections,
  nodeInfo,
  operationsInfo,
  publish,
  sampleInfo,
} from './api';
import { type ResolvedAdminOptions, sha256 } from './options';
import { ADMIN_CSS, ADMIN_SCRIPT, adminPage } from './page';

/** The page's Content-Security-Policy: its own script and style only, nothing inline, no frames, no forms posted. */
export const ADMIN_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const SECURITY_HEADERS: Record<string, string> = {
  'Cache-Control': 'no-store',
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy': ADMIN_CSP,
  'Cross-Origin-Resource-Policy': 'same-origin',
};

function send(res: ServerResponse, status: number, type: string, text: string): void {
  if (res.headersSent) return;
  res.statusCode = status;
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
  res.setHeader('Content-Type', type);
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(body));
}

function methodNotAllowed(res: ServerResponse, allowed: string): void {
  res.setHeader('Allow', allowed);
  json(res, 405, { error: ErrorCode.BAD_REQUEST, message: `use ${allowed.split(', ').join(' or ')} here` });
}

type Handler = (query: URLSearchParams, body: () => Promise<unknown>) => AdminAnswer | Promise<AdminAnswer>;

/**
 * The admin inspector's route (see docs/admin.md), or `undefined` when `admin` is not configured: the page and its
 * assets at `<path>`, the JSON API under `<path>/api/…`, every API request checked for the admin token.
 */
export function createAdminRoute(
  options: ResolvedAdminOptions | undefined,
  service: AdminService,
  bodies: HttpRouteBodies,
): HttpRoute | undefined {
  if (options === undefined) return undefined;
  const { path: base, tokenHash } = options;
  const page = adminPage(base);
  const apiBase = `${base}/api/`;

  const authorized = (req: IncomingMessage): boolean => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    return match !== null && timingSafeEqual(sha256(match[1]!), tokenHash);
  };

  const readJson = async (req: IncomingMessage, res: ServerResponse): Promise<unknown> => {
    const type = req.headers['content-type'] ?? '';
    if (!/^application\/json\s*(;|$)/i.test(type)) {
      bodies.discardBody(req, res);
      throw new AdminError(415, ErrorCode.BAD_REQUEST, 'send the body as Content-Type: application/json');
    }
    let raw: Buffer;
    try {
      raw = await bodies.readBody(req, res);
    } catch (error) {
      const e = error as { status?: number; code?: string; message?: string };
      throw new AdminError(e.status ?? 400, e.code ?? ErrorCode.BAD_REQUEST, e.message ?? 'the body could not be read');
    }
    try {
      return JSON.parse(raw.toString('utf8')) as unknown;
    } catch (error) {
      throw new AdminError(400, ErrorCode.BAD_REQUEST, `the body is not valid JSON: ${(error as Error).message}`);
    }
  };

  /** The API handler of a method and a path under `<path>/api/`, or an answer to give instead. */
  const routeApi = (method: string, rest: string): Handler | AdminError => {
    const get = (handler: Handler): Handler | AdminError =>
      method === 'GET' ? handler : new AdminError(405, 'GET', '');
    const post = (handler: Handler): Handler | AdminError =>
      method === 'POST' ? handler : new AdminError(405, 'POST', '');
    switch (rest) {
      case 'node':
        return get(() => nodeInfo(service));
      case 'operations':
        return get(() => operationsInfo(service));
      case 'sample':
        return get(() => sampleInfo(service));
      case 'connections':
        return get((query) => listConnections(service, query));
      case 'channels':
        return get((query) => listChannels(service, query));
      case 'publish':
        return post(async (_q, body) => publish(service, await body()));
      case 'disconnect':
        return post(async (_q, body) => disconnect(service, await body()));
    }
    const channel = /^channels\/([^/]+)(\/history)?$/.exec(rest);
    if (channel !== null) {
      return get((query) => {
        const name = channelParam(channel[1]!);
        return channel[2] === undefined ? channelInfo(service, name) : channelHistory(service, name, query);
      });
    }
    return new AdminError(404, ErrorCode.NOT_FOUND, `no admin API route ${rest}`);
  };

  const api = (req: IncomingMessage, res: ServerResponse, rest: string, query: URLSearchParams): void => {
    const method = req.method ?? 'GET';
    if (!authorized(req)) {
      bodies.discardBody(req, res);
      res.setHeader('WWW-Authenticate', 'Bearer realm="unisocket admin"');
      json(res, 401, {
        error: ErrorCode.UNAUTHORIZED,
        message: 'the admin API needs the admin token: send "Authorization: Bearer <admin token>"',
      });
      return;
    }
    const handler = routeApi(method, rest);
    if (handler instanceof AdminError) {
      bodies.discardBody(req, res);
      if (handler.status === 405) methodNotAllowed(res, handler.code);
      else json(res, handler.status, { error: handler.code, message: handler.message });
      return;
    }
    if (method === 'GET') bodies.discardBody(req, res);
    Promise.resolve()
      .then(() => handler(query, () => readJson(req, res)))
      .then(
        (answer) => json(res, answer.status, answer.body),
        (error: unknown) => {
          if (error instanceof AdminError) {
            json(res, error.status, { error: error.code, message: error.message });
            return;
          }
          json(res, 500, {
            error: ErrorCode.INTERNAL,
            message: `the admin API failed: ${error instanceof Error ? error.message : String(error)}`,
          });
        },
      );
  };

  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (path !== base && !path.startsWith(`${base}/`)) return false;
    const method = req.method ?? 'GET';
    if (path.startsWith(apiBase)) {
      api(req, res, path.slice(apiBase.length), new URLSearchParams(q === -1 ? '' : url.slice(q + 1)));
      return true;
    }
    // the page and its assets are static and hold nothing secret
    const asset =
      path === base || path === `${base}/`
        ? (['text/html; charset=utf-8', page] as const)
        : path === `${base}/admin.js`
          ? (['text/javascript; charset=utf-8', ADMIN_SCRIPT] as const)
          : path === `${base}/admin.css`
            ? (['text/css; charset=utf-8', ADMIN_CSS] as const)
            : undefined;
    bodies.discardBody(req, res);
    if (asset === undefined) {
      json(res, 404, { error: ErrorCode.NOT_FOUND, message: `no admin route ${path}` });
      return true;
    }
    if (method !== 'GET' && method !== 'HEAD') {
      methodNotAllowed(res, 'GET, HEAD');
      return true;
    }
    send(res, 200, asset[0], asset[1]);
    return true;
  };
}
