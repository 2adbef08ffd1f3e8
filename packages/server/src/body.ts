import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode } from '@unisocket/core';
import { DEFAULT_HTTP_BODY_LIMITS, type HttpOptions } from './options';

/** @internal An error answered as `{ error: code, message }` with `status`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Close the connection after the answer (the rest of the body is not read). */
    readonly close = false,
    /** Seconds for `Retry-After`. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** @internal The resolved body limits of an HTTP API (see {@link HttpOptions}). */
export interface BodyLimits {
  maxBodyBytes: number;
  maxPendingBodyBytes: number;
  maxConcurrentBodies: number;
  bodyTimeoutMs: number;
}

/** @internal What the bodies being read hold right now, and the most they held. */
export interface BodyUsage {
  /** Bytes accounted to bodies being read (declared `Content-Length`, or bytes received when chunked). */
  pendingBytes: number;
  /** Bodies being read. */
  activeBodies: number;
  peakPendingBytes: number;
  peakActiveBodies: number;
  /** Bodies refused with 503 (over `maxPendingBodyBytes` or `maxConcurrentBodies`). */
  refused: number;
  /** Bodies answered 408 (not complete within `bodyTimeoutMs`). */
  timedOut: number;
}

const MAX_TIMER_MS = 2_147_483_647;

/** @internal Resolves and checks the body limits, with a `TypeError` that names the option and says what to change. */
export function resolveBodyLimits(options: HttpOptions): BodyLimits {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_HTTP_BODY_LIMITS.maxBodyBytes;
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 1) {
    throw new TypeError(`http.maxBodyBytes must be a positive integer, got ${String(options.maxBodyBytes)}`);
  }
  const maxPendingBodyBytes =
    options.maxPendingBodyBytes ?? Math.max(DEFAULT_HTTP_BODY_LIMITS.maxPendingBodyBytes, maxBodyBytes);
  if (!Number.isSafeInteger(maxPendingBodyBytes) || maxPendingBodyBytes < 1) {
    throw new TypeError(
      `http.maxPendingBodyBytes must be a positive integer, got ${String(options.maxPendingBodyBytes)}`,
    );
  }
  if (maxPendingBodyBytes < maxBodyBytes) {
    throw new TypeError(
      `http.maxPendingBodyBytes (${maxPendingBodyBytes}) must be at least http.maxBodyBytes (${maxBodyBytes}), or no body of the largest size could ever be read: raise http.maxPendingBodyBytes or lower http.maxBodyBytes`,
    );
  }
  const maxConcurrentBodies = options.maxConcurrentBodies ?? DEFAULT_HTTP_BODY_LIMITS.maxConcurrentBodies;
  if (!Number.isSafeInteger(maxConcurrentBodies) || maxConcurrentBodies < 1) {
    throw new TypeError(
      `http.maxConcurrentBodies must be a positive integer, got ${String(options.maxConcurrentBodies)}`,
    );
  }
  const bodyTimeoutMs = options.bodyTimeoutMs ?? DEFAULT_HTTP_BODY_LIMITS.bodyTimeoutMs;
  if (!Number.isInteger(bodyTimeoutMs) || bodyTimeoutMs < 1 || bodyTimeoutMs > MAX_TIMER_MS) {
    throw new TypeError(
      `http.bodyTimeoutMs must be an integer from 1 to ${MAX_TIMER_MS} (ms), got ${String(options.bodyTimeoutMs)}`,
    );
  }
  return { maxBodyBytes, maxPendingBodyBytes, maxConcurrentBodies, bodyTimeoutMs };
}

/**
 * @internal Reads request bodies within the limits: one body at most `maxBodyBytes`, all bodies being read at most
 * `maxPendingBodyBytes` together and `maxConcurrentBodies` in number, each complete within `bodyTimeoutMs`. Every
 * body releases what it holds exactly once, however it ends (complete, too large, over the total, timed out, request
 * error, connection closed).
 */
export class BodyReader {
  readonly limits: Readonly<BodyLimits>;
  #pending = 0;
  #active = 0;
  #peakPending = 0;
  #peakActive = 0;
  #refused = 0;
  #timedOut = 0;

  constructor(limits: BodyLimits) {
    this.limits = Object.freeze({ ...limits });
  }

  usage(): BodyUsage {
    return {
      pendingBytes: this.#pending,
      activeBodies: this.#active,
      peakPendingBytes: this.#peakPending,
      peakActiveBodies: this.#peakActive,
      refused: this.#refused,
      timedOut: this.#timedOut,
    };
  }

  /** A 413 when the declared `Content-Length` is over `maxBodyBytes` (checked before anything is read). */
  checkDeclared(req: IncomingMessage): HttpError | undefined {
    const declared = declaredLength(req);
    return declared !== undefined && declared > this.limits.maxBodyBytes
      ? this.#tooLarge(`declares ${declared} bytes`)
      : undefined;
  }

  /**
   * Reads the whole body. Rejects with an {@link HttpError}: 413 (too large), 503 (over the total or the concurrent
   * reads; `Retry-After`), 408 (timed out), 400 (the request failed or its connection closed first). All but the 400s
   * ask to close the connection; the caller answers.
   */
  read(req: IncomingMessage): Promise<Buffer> {
    const { maxBodyBytes, maxPendingBodyBytes, maxConcurrentBodies, bodyTimeoutMs } = this.limits;
    const tooLarge = this.checkDeclared(req);
    if (tooLarge !== undefined) return Promise.reject(tooLarge);
    if (req.destroyed) {
      return Promise.reject(
        new HttpError(400, ErrorCode.BAD_REQUEST, 'the connection closed before the body was complete'),
      );
    }
    if (this.#active >= maxConcurrentBodies) {
      this.#refused++;
      return Promise.reject(
        new HttpError(
          503,
          ErrorCode.UNAVAILABLE,
          `the server is reading ${this.#active} request bodies, the most it reads at once (http.maxConcurrentBodies): retry later`,
          true,
          1,
        ),
      );
    }
    const declared = declaredLength(req) ?? 0;
    if (this.#pending + declared > maxPendingBodyBytes) {
      this.#refused++;
      return Promise.reject(this.#overTotal(declared));
    }

    this.#active++;
    this.#charge(declared);
    let held = declared;
    let size = 0;
    let chunks: Buffer[] = [];
    let done = false;

    return new Promise<Buffer>((resolve, reject) => {
      const settle = (): boolean => {
        if (done) return false;
        done = true;
        clearTimeout(timer);
        this.#pending -= held;
        held = 0;
        this.#active--;
        req.off('data', onData);
        req.off('end', onEnd);
        req.off('close', onClose);
        // the 'error' listener stays: a late error (a reset after the answer) must not become an uncaught one
        return true;
      };
      const fail = (error: HttpError): void => {
        if (!settle()) return;
        chunks = [];
        reject(error);
      };
      const onData = (chunk: Buffer): void => {
        if (done) return;
        size += chunk.length;
        if (size > maxBodyBytes) {
          fail(this.#tooLarge(`sent more than ${maxBodyBytes} bytes`));
          return;
        }
        if (size > held) {
          const extra = size - held;
          if (this.#pending + extra > maxPendingBodyBytes) {
            this.#refused++;
            fail(this.#overTotal(extra));
            return;
          }
          this.#charge(extra);
          held = size;
        }
        chunks.push(chunk);
      };
      const onEnd = (): void => {
        const body = Buffer.concat(chunks, size);
        if (settle()) {
          chunks = [];
          resolve(body);
        }
      };
      const onError = (error: Error): void => {
        fail(new HttpError(400, ErrorCode.BAD_REQUEST, `the request body could not be read: ${error.message}`, true));
      };
      const onClose = (): void => {
        fail(new HttpError(400, ErrorCode.BAD_REQUEST, 'the connection closed before the body was complete', true));
      };
      const timer = setTimeout(() => {
        if (done) return;
        this.#timedOut++;
        fail(
          new HttpError(
            408,
            ErrorCode.BAD_REQUEST,
            `the body was not complete within ${bodyTimeoutMs} ms (http.bodyTimeoutMs): ${size} of ${declaredLength(req) ?? 'an unknown number of'} bytes arrived`,
            true,
          ),
        );
      }, bodyTimeoutMs);
      timer.unref();
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('error', onError);
      req.on('close', onClose);
    });
  }

  /**
   * Discards an unread body after an early answer (401, 403, 415, 413) so the connection can be reused — but only up
   * to `maxBodyBytes` and within `bodyTimeoutMs`; past either the connection is closed once the answer is sent.
   * Discarded bytes are not held, so they are not accounted.
   */
  discard(req: IncomingMessage, res: ServerResponse): void {
    if (req.readableEnded || req.destroyed) return;
    const { maxBodyBytes, bodyTimeoutMs } = this.limits;
    let size = 0;
    const stop = (): void => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', stop);
      req.off('close', stop);
    };
    const cut = (): void => {
      stop();
      closeAfterAnswer(req, res);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBodyBytes) cut();
    };
    const timer = setTimeout(cut, bodyTimeoutMs);
    timer.unref();
    req.on('error', noop);
    req.on('data', onData);
    req.once('end', stop);
    req.once('close', stop);
  }

  #charge(bytes: number): void {
    this.#pending += bytes;
    if (this.#pending > this.#peakPending) this.#peakPending = this.#pending;
    if (this.#active > this.#peakActive) this.#peakActive = this.#active;
  }

  #tooLarge(what: string): HttpError {
    return new HttpError(
      413,
      ErrorCode.PAYLOAD_TOO_LARGE,
      `the body is larger than ${this.limits.maxBodyBytes} bytes, the limit set by http.maxBodyBytes (it ${what})`,
      true,
    );
  }

  #overTotal(bytes: number): HttpError {
    return new HttpError(
      503,
      ErrorCode.UNAVAILABLE,
      `the server holds ${this.#pending} bytes of request bodies being read and ${bytes} more would pass the ${this.limits.maxPendingBodyBytes} bytes it holds at most (http.maxPendingBodyBytes): retry later`,
      true,
      1,
    );
  }
}

/**
 * @internal Closes the connection once the answer is sent: `Connection: close` when the headers are not out yet
 * (Node then ends the socket after the answer), and in any case the socket is ended after the answer and destroyed at
 * the latest `graceMs` later, so a peer that neither reads nor closes cannot keep it.
 */
export function closeAfterAnswer(req: IncomingMessage, res: ServerResponse, graceMs = 2_000): void {
  const socket = req.socket;
  if (!res.headersSent) res.setHeader('Connection', 'close');
  const kill = setTimeout(() => socket.destroy(), graceMs);
  kill.unref();
  socket.once('close', () => clearTimeout(kill));
  let ended = false;
  const end = (): void => {
    if (ended || socket.destroyed) return;
    ended = true;
    socket.end();
    if (socket.writableFinished) socket.destroy();
    else socket.once('finish', () => socket.destroy());
  };
  if (res.writableFinished) end();
  else {
    res.once('finish', end);
    res.once('close', end);
  }
}

/** The declared `Content-Length`, or `undefined` (none, or chunked). */
function declaredLength(req: IncomingMessage): number | undefined {
  const header = req.headers['content-length'];
  if (header === undefined || req.headers['transfer-encoding'] !== undefined) return undefined;
  const n = Number(header);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

function noop(): void {}
