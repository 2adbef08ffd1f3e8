import type { IncomingMessage, ServerResponse } from 'node:http';
import type { UnifiedWebSocketService } from '@unisocket/server';
import { readSmallBody } from './pusher-auth';

/** The longest chat name and line the endpoint takes (the page's inputs have the same bounds). */
export const MAX_NAME_CHARS = 24;
export const MAX_TEXT_CHARS = 500;
/** How long the endpoint waits for the Hub's reply to the publish. */
const REPLY_TIMEOUT_MS = 5_000;

/** The Hub's reply to a publish, as far as this endpoint reads it. */
interface PublishReply {
  type: string;
  offset?: number;
  id?: string;
  code?: string;
  message?: string;
}

const STATUS: Record<string, number> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  RATE_LIMITED: 429,
  LIMIT_EXCEEDED: 429,
  PAYLOAD_TOO_LARGE: 413,
  UNAVAILABLE: 503,
};

/**
 * `POST /demo/say` `{ socket_id, name, text }` (JSON): the chat send of a Pusher tab (`/?transport=pusher`).
 *
 * The Pusher protocol has no client publish on public channels (client events are for private and presence channels
 * only), so a Pusher page sends its chat line over HTTP, as a Laravel app posts to its own controller. This endpoint
 * does not publish as the server: it runs the line as a publish **of the Pusher connection `socket_id`** through the
 * Hub (`say` on `channel`), so the same permission (`permissions.publish`), per-connection rate limit
 * (`limits.messagesPerSecond`) and payload limits apply as to a native client's publish, and every subscriber of the
 * channel receives it, on any transport and any node, the sender included. The socket must be connected to the node
 * that receives the request (404 otherwise). Answers `{ channel, offset, id }`, or `{ error, message }`.
 */
export function pusherChatEndpoint(
  service: UnifiedWebSocketService,
  channel: string,
): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  return async (req, res) => {
    if (req.method !== 'POST' || (req.url ?? '/').split('?')[0] !== '/demo/say') return false;
    const json = (status: number, body: unknown): true => {
      res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(JSON.stringify(body));
      return true;
    };
    const bad = (message: string): true => json(400, { error: 'BAD_REQUEST', message });
    const body = await readSmallBody(req);
    if (body === undefined) return json(413, { error: 'PAYLOAD_TOO_LARGE', message: 'the request is over 4 KiB' });
    let input: { socket_id?: unknown; name?: unknown; text?: unknown };
    try {
      input = JSON.parse(body) as typeof input;
    } catch {
      return bad('send JSON: {"socket_id":…,"name":…,"text":…}');
    }
    if (typeof input !== 'object' || input === null) return bad('send a JSON object');
    const { socket_id: socketId, name, text } = input;
    if (typeof socketId !== 'string') return bad('socket_id (the Pusher connection, Echo.socketId()) is required');
    if (typeof text !== 'string' || text.trim() === '' || text.length > MAX_TEXT_CHARS) {
      return bad(`text must be 1-${MAX_TEXT_CHARS} characters`);
    }
    if (name !== undefined && (typeof name !== 'string' || name.length > MAX_NAME_CHARS)) {
      return bad(`name must be at most ${MAX_NAME_CHARS} characters`);
    }
    const conn = service.pusherTransport?.connectionOf(socketId);
    if (conn === undefined || conn.closed) {
      return json(404, {
        error: 'NOT_FOUND',
        message: 'no open Pusher connection with this socket_id on this node',
      });
    }
    const reply = await new Promise<PublishReply | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), REPLY_TIMEOUT_MS);
      service.hub.handleCommand(
        conn,
        { type: 'publish', channel, event: 'say', data: { name: name || 'anonymous', text: text.trim() } },
        (frame: PublishReply) => {
          clearTimeout(timer);
          resolve(frame);
        },
      );
    });
    if (reply === undefined) return json(503, { error: 'UNAVAILABLE', message: 'the publish got no reply in time' });
    if (reply.type !== 'ack') {
      return json(STATUS[reply.code ?? ''] ?? 500, { error: reply.code ?? 'INTERNAL', message: reply.message ?? '' });
    }
    return json(200, { channel, offset: reply.offset, id: reply.id });
  };
}
