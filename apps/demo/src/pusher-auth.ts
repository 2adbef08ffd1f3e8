import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type PusherAppOptions,
  authenticatePusherUser,
  authorizePusherChannel,
  readPusherAuthRequest,
} from '@unisocket/transport-pusher';
import { jwtVerify } from 'jose';

/** The Pusher app of the demo, from `PUSHER_APP_ID`, `PUSHER_APP_KEY`, `PUSHER_APP_SECRET`. */
export interface DemoPusherApp extends Pick<PusherAppOptions, 'id' | 'key' | 'secret'> {}

/** The most bytes an auth request body may hold (a socket id and a channel name). */
const MAX_AUTH_BODY = 4096;

/**
 * The demo's Pusher app from the environment: `PUSHER_APP_ID` (default `unisocket-demo`), `PUSHER_APP_KEY` (default
 * `demo-app-key`), `PUSHER_APP_SECRET` (default `demo-app-secret` outside production, required in production).
 * @throws {TypeError} in production without `PUSHER_APP_SECRET`
 */
export function pusherAppFromEnv(env: NodeJS.ProcessEnv): DemoPusherApp {
  const value = (name: string): string | undefined => (env[name] === '' ? undefined : env[name]);
  const secret = value('PUSHER_APP_SECRET') ?? (env.NODE_ENV === 'production' ? undefined : 'demo-app-secret');
  if (secret === undefined) {
    throw new TypeError('PUSHER_APP_SECRET is required in production: e.g. PUSHER_APP_SECRET=$(openssl rand -hex 32)');
  }
  return { id: value('PUSHER_APP_ID') ?? 'unisocket-demo', key: value('PUSHER_APP_KEY') ?? 'demo-app-key', secret };
}

/**
 * Laravel Echo's default auth endpoints: `POST /broadcasting/auth` (`socket_id`, `channel_name`) and
 * `POST /broadcasting/user-auth` (`socket_id`), form or JSON body. With `jwtSecret` the request is authenticated by
 * `Authorization: Bearer <jwt>` (HS256) and signed for its `sub` (presence `user_info`: `{ name }` from the `name`
 * claim, else `info.name`); without it, or without a valid token, private and presence channels get 403. Public
 * channels need no auth (400). Returns `false` for other requests.
 */
export function pusherAuthEndpoints(
  app: DemoPusherApp,
  jwtSecret: string | undefined,
): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const key = jwtSecret === undefined ? undefined : new TextEncoder().encode(jwtSecret);
  return async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'POST' || (path !== '/broadcasting/auth' && path !== '/broadcasting/user-auth')) return false;
    const json = (status: number, body: unknown): true => {
      res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(JSON.stringify(body));
      return true;
    };
    const body = await readSmallBody(req);
    if (body === undefined) return json(413, { error: 'PAYLOAD_TOO_LARGE', message: 'the auth request is too large' });
    const { socketId, channelName } = readPusherAuthRequest(body, req.headers['content-type']);
    const userAuth = path === '/broadcasting/user-auth';
    if (socketId === undefined || (!userAuth && channelName === undefined)) {
      return json(400, { error: 'BAD_REQUEST', message: 'send socket_id (and channel_name) as a form or JSON' });
    }
    if (!userAuth && !/^(private|presence)-/.test(channelName!)) {
      return json(400, { error: 'BAD_REQUEST', message: `${channelName} is a public channel: it needs no auth` });
    }
    const user = await userOf(req, key);
    if (user === undefined) {
      return json(403, {
        error: 'FORBIDDEN',
        message:
          key === undefined
            ? 'private and presence channels are refused: the demo runs without JWT_SECRET'
            : 'send Authorization: Bearer <token> (GET /demo/token?name=… outside production)',
      });
    }
    try {
      return userAuth
        ? json(200, authenticatePusherUser({ app, socketId, userId: user.id, userInfo: { name: user.name } }))
        : json(
            200,
            authorizePusherChannel({
              app,
              socketId,
              channel: channelName!,
              userId: user.id,
              userInfo: { name: user.name },
            }),
          );
    } catch (error) {
      return json(400, { error: 'BAD_REQUEST', message: (error as Error).message });
    }
  };
}

async function userOf(
  req: IncomingMessage,
  key: Uint8Array | undefined,
): Promise<{ id: string; name: string } | undefined> {
  const match = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
  if (key === undefined || match === null) return undefined;
  try {
    const { payload } = await jwtVerify(match[1]!.trim(), key, { algorithms: ['HS256'] });
    if (typeof payload.sub !== 'string' || payload.sub === '') return undefined;
    const info = payload.info as { name?: unknown } | undefined;
    const name =
      typeof payload.name === 'string' ? payload.name : typeof info?.name === 'string' ? info.name : payload.sub;
    return { id: payload.sub, name };
  } catch {
    return undefined;
  }
}

/** The body of a small request (at most 4 KiB), or `undefined` when it is larger or fails. */
export function readSmallBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_AUTH_BODY) {
        resolve(undefined);
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(size > MAX_AUTH_BODY ? undefined : Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => resolve(undefined));
  });
}
