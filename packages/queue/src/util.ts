import { ErrorCode, UnisocketError } from '@unisocket/core';

/** A `UNAVAILABLE` error (the backend cannot take the call). @internal */
export function unavailable(message: string, cause?: unknown): UnisocketError {
  return new UnisocketError(ErrorCode.UNAVAILABLE, message, cause === undefined ? {} : { cause });
}

/** A `NOT_FOUND` error. @internal */
export function notFound(message: string): UnisocketError {
  return new UnisocketError(ErrorCode.NOT_FOUND, message);
}

/** The message of anything thrown. @internal */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

/** `error` as an `Error`. @internal */
export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * Settles like `promise`, or rejects with `onTimeout()` after `ms` (the timer is cleared either way and never keeps
 * the process alive). @internal
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms);
    timer.unref();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** Resolves after `ms` (an unref'd timer). @internal */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** The URL without its password, for messages. @internal */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}
