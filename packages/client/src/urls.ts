/** The longest reconnect advice a client honours, in ms (a server's `retry-after-ms` above it is capped). */
export const MAX_ADVISED_DELAY_MS = 30_000;

const ADVICE = /(?:^|[;\s])retry-after-ms=(\d{1,9})(?:$|[;\s])/;

/**
 * The reconnect advice in a close reason: a server that shuts down gracefully closes with 1001 and a reason ending
 * in `; retry-after-ms=<n>` (its own random delay per connection). `undefined` when the reason carries none.
 */
export function readReconnectAdvice(reason: string): number | undefined {
  const match = ADVICE.exec(reason);
  return match === null ? undefined : Number(match[1]);
}

/**
 * Several servers for one client: it starts at a random one (a fleet of clients spreads over them without a load
 * balancer) and moves on to the next after every lost connection or failed attempt, so the clients of a node that
 * shut down or died land on the others.
 * @internal
 */
export class UrlRotation {
  readonly #urls: readonly string[];
  #index: number;

  constructor(urls: readonly string[], random: () => number = Math.random) {
    this.#urls = urls;
    this.#index = Math.min(urls.length - 1, Math.floor(random() * urls.length));
  }

  /** The URL of the next attempt. */
  get current(): string {
    return this.#urls[this.#index]!;
  }

  /** Moves to the next URL (the connection to the current one was lost or could not be opened). */
  rotate(): void {
    this.#index = (this.#index + 1) % this.#urls.length;
  }
}
