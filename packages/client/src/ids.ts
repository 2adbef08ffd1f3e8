const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** `length` random characters of [A-Za-z0-9], from `crypto.getRandomValues` when the runtime has it. */
export function randomToken(length: number): string {
  const bytes = new Uint8Array(length);
  const crypto = (globalThis as { crypto?: { getRandomValues?: (a: Uint8Array) => Uint8Array } }).crypto;
  if (typeof crypto?.getRandomValues === 'function') crypto.getRandomValues(bytes);
  else for (let i = 0; i < length; i++) bytes[i] = Math.floor(Math.random() * 256);
  let out = '';
  // 248 = 4 × 62: dropping the top bytes keeps the draw uniform; the rare redraw uses Math.random
  for (const b of bytes) out += ALPHABET[b < 248 ? b % 62 : Math.floor(Math.random() * 62)];
  return out;
}

/**
 * Publish idempotency keys: `c_<16 random chars>.<counter in base 36>`, unique across clients and restarts, within
 * the protocol's 1–64 characters of `[A-Za-z0-9_.:=@-]`, and never equal to a server-made id (those always hold a `-`).
 */
export class PublishIdGenerator {
  readonly #prefix = `c_${randomToken(16)}.`;
  #counter = 0;

  next(): string {
    return this.#prefix + (this.#counter++).toString(36);
  }
}
