import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, isUnisocketError } from '@unisocket/core';
import type { BreakerRegistry } from '@unisocket/queue';
import { answerJson } from '../http';
import type { BroadcastQueue, QueueName } from './broadcast-queue';

const DEAD_LETTER = /^\/dead-letters\/([A-Za-z0-9_-]{1,40})\/([^/]{1,200})(\/retry)?$/;

/**
 * @internal The job queue API under `http.paths.queue` (the API key is checked before):
 * - `GET /queue`: the queues' kind, durability, counts per state, recurring broadcasts and circuit breakers;
 * - `GET /queue/dead-letters?queue=&offset=&limit=`: the dead-letter queue, newest first;
 * - `POST /queue/dead-letters/<queue>/<id>/retry`: runs an entry again (404 when it is not there);
 * - `DELETE /queue/dead-letters/<queue>/<id>`: removes an entry (404 when it is not there).
 */
export function queueRequestHandler(
  queue: BroadcastQueue,
  breakers: BreakerRegistry,
): (req: IncomingMessage, res: ServerResponse, path: string) => void {
  return (req, res, path) => {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://localhost');
    const answer = (work: Promise<unknown>, status = 200): void => {
      work.then(
        (body) => answerJson(res, status, body),
        (error: unknown) => answerError(res, error),
      );
    };
    if (path === '' || path === '/') {
      if (method !== 'GET' && method !== 'HEAD') return methodNotAllowed(res, method, ['GET']);
      answer(
        Promise.all([queue.counts(), queue.schedules()]).then(([counts, schedules]) => ({
          kind: queue.kind,
          durable: queue.durable,
          counts,
          schedules,
          breakers: breakers.list(),
        })),
      );
      return;
    }
    if (path === '/dead-letters') {
      if (method !== 'GET' && method !== 'HEAD') return methodNotAllowed(res, method, ['GET']);
      const params = url.searchParams;
      const number = (name: string): number | undefined => {
        const raw = params.get(name);
        return raw === null ? undefined : Number(raw);
      };
      answer(
        Promise.resolve().then(() =>
          queue.deadLetters({
            ...(params.get('queue') === null ? {} : { queue: params.get('queue') as QueueName }),
            ...(number('offset') === undefined ? {} : { offset: number('offset')! }),
            ...(number('limit') === undefined ? {} : { limit: number('limit')! }),
          }),
        ),
      );
      return;
    }
    const match = DEAD_LETTER.exec(path);
    if (match === null) {
      answerJson(res, 404, {
        error: ErrorCode.NOT_FOUND,
        message: `no route for ${method} ${url.pathname}: see GET …/dead-letters, POST …/dead-letters/<queue>/<id>/retry, DELETE …/dead-letters/<queue>/<id>`,
      });
      return;
    }
    const name = match[1] as QueueName;
    let id: string;
    try {
      id = decodeURIComponent(match[2]!);
    } catch {
      answerJson(res, 400, {
        error: ErrorCode.BAD_REQUEST,
        message: `the dead-letter id ${JSON.stringify(match[2])} is not valid percent-encoding`,
      });
      return;
    }
    if (match[3] !== undefined) {
      if (method !== 'POST') return methodNotAllowed(res, method, ['POST']);
      answer(
        Promise.resolve().then(() => queue.retryDeadLetter(name, id)),
        202,
      );
      return;
    }
    if (method !== 'DELETE') return methodNotAllowed(res, method, ['DELETE']);
    answer(Promise.resolve().then(() => queue.removeDeadLetter(name, id).then(() => ({ removed: true }))));
  };
}

function answerError(res: ServerResponse, error: unknown): void {
  const code = isUnisocketError(error)
    ? error.code
    : error instanceof TypeError
      ? ErrorCode.BAD_REQUEST
      : ErrorCode.INTERNAL;
  const status =
    code === ErrorCode.BAD_REQUEST
      ? 400
      : code === ErrorCode.NOT_FOUND
        ? 404
        : code === ErrorCode.UNAVAILABLE
          ? 503
          : 500;
  if (status === 503) res.setHeader('Retry-After', '1');
  answerJson(res, status, { error: code, message: error instanceof Error ? error.message : String(error) });
}

function methodNotAllowed(res: ServerResponse, method: string, allowed: string[]): void {
  res.setHeader('Allow', allowed.join(', '));
  answerJson(res, 405, {
    error: ErrorCode.BAD_REQUEST,
    message: `method ${method} is not allowed here: use ${allowed.join(' or ')}`,
  });
}
