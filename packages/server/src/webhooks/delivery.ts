import { isUnisocketError } from '@unisocket/core';
import { webhookHeaders } from './body';
import type { ResolvedWebhookEndpoint } from './options';

/** A webhook request answered with something other than 2xx. */
export class WebhookStatusError extends Error {
  override readonly name = 'WebhookStatusError';
  constructor(
    readonly url: string,
    readonly status: number,
  ) {
    super(`the receiver answered HTTP ${status}`);
  }
}

/**
 * POSTs one webhook body to an endpoint and resolves with the status of a 2xx answer. Anything else rejects: a non-2xx
 * status (redirects are not followed), no answer within the endpoint's `timeoutMs`, a refused or reset connection, an
 * answer that is not HTTP. The answer's body is not read.
 */
export async function deliverWebhook(
  endpoint: Pick<ResolvedWebhookEndpoint, 'url' | 'key' | 'secret' | 'headers' | 'timeoutMs'>,
  body: string,
): Promise<number> {
  // the signature covers exactly these bytes
  const bytes = Buffer.from(body, 'utf8');
  const url = new URL(endpoint.url);
  const headers = webhookHeaders(endpoint, bytes);
  if (url.username !== '' || url.password !== '') {
    // fetch refuses a URL with credentials: they go as HTTP Basic auth (unless the endpoint sets its own Authorization)
    if (!Object.keys(headers).some((name) => name.toLowerCase() === 'authorization')) {
      const user = `${decodeUserInfo(url.username)}:${decodeUserInfo(url.password)}`;
      headers.Authorization = `Basic ${Buffer.from(user, 'utf8').toString('base64')}`;
    }
    url.username = '';
    url.password = '';
  }
  const response = await fetch(url, {
    method: 'POST',
    headers,
    body: bytes,
    redirect: 'manual',
    signal: AbortSignal.timeout(endpoint.timeoutMs),
  });
  // nobody reads it: release the connection
  response.body?.cancel().catch(() => {});
  if (response.status < 200 || response.status > 299) throw new WebhookStatusError(endpoint.url, response.status);
  return response.status;
}

function decodeUserInfo(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/** A failure in a few words for `webhook-failed` and the dead-letter queue: `HTTP 500`, `no answer within 5000 ms`, `ECONNREFUSED …`. */
export function describeFailure(error: unknown, timeoutMs?: number): string {
  if (error instanceof WebhookStatusError) return error.message;
  if (error instanceof Error) {
    if (error.name === 'TimeoutError') {
      return timeoutMs === undefined ? 'no answer in time' : `no answer within ${timeoutMs} ms`;
    }
    if (isUnisocketError(error)) return `${error.code}: ${error.message}`;
    const cause = error.cause;
    if (cause instanceof Error) {
      const code = (cause as { code?: unknown }).code;
      const inner =
        cause.name === 'TimeoutError' && timeoutMs !== undefined ? `no answer within ${timeoutMs} ms` : cause.message;
      return typeof code === 'string' && !inner.includes(code)
        ? `${error.message}: ${code} ${inner}`
        : `${error.message}: ${inner}`;
    }
    return error.message;
  }
  return String(error);
}
