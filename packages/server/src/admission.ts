import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import {
  type Admission,
  type AdmissionContext,
  CloseCode,
  type Connection,
  ErrorCode,
  type Hub,
  type Identity,
  type MaybePromise,
  UnisocketError,
} from '@unisocket/core';
import type { AuthRequest, SecurityOptions } from './auth-options';

/** The longest token accepted from a request (the same bound as the `auth` command's). */
export const MAX_TOKEN_LENGTH = 16 * 1024;

/** Decides whether a request's `Origin` is allowed (`host` is the request's `Host` header). */
export type OriginCheck = (origin: string | undefined, host: string | undefined) => boolean;

/** Compiles `security.allowedOrigins` / `allowMissingOrigin`, throwing a `TypeError` for a malformed entry. */
export function compileOriginCheck(security: SecurityOptions): OriginCheck {
  const allowMissing = security.allowMissingOrigin ?? true;
  if (typeof allowMissing !== 'boolean') throw new TypeError('security.allowMissingOrigin must be a boolean');
  const allowSame = security.allowSameOrigin ?? true;
  if (typeof allowSame !== 'boolean') throw new TypeError('security.allowSameOrigin must be a boolean');
  const list = security.allowedOrigins ?? ['*'];
  if (!Array.isArray(list) || list.length === 0) {
    throw new TypeError(
      "security.allowedOrigins must be a non-empty array of origins such as ['https://app.example.com'], or ['*']",
    );
  }
  let any = false;
  const exact = new Set<string>();
  const patterns: RegExp[] = [];
  for (const entry of list) {
    if (entry === '*') {
      any = true;
      continue;
    }
    if (typeof entry !== 'string') throw new TypeError('security.allowedOrigins entries must be strings');
    const lower = entry.toLowerCase();
    if (lower === 'null') {
      exact.add('null');
      continue;
    }
    const match = /^(https?):\/\/(\*\.)?([a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(:\d{1,5})?$/.exec(lower);
    if (match === null) {
      throw new TypeError(
        `security.allowedOrigins: ${JSON.stringify(entry)} is not an origin; use scheme://host[:port] without a path ` +
          `(e.g. 'https://app.example.com', 'https://*.example.com', 'http://localhost:3000') or '*'`,
      );
    }
    if (match[2] === undefined) exact.add(lower);
    else {
      const rest = `${match[3]!}${match[4] ?? ''}`.replace(/[.[\]]/g, '\\$&');
      patterns.push(new RegExp(`^${match[1]!}://[a-z0-9-]+(?:\\.[a-z0-9-]+)*\\.${rest}$`));
    }
  }
  return (origin, host) => {
    if (origin === undefined || origin === '') return allowMissing;
    if (any) return true;
    const lower = origin.toLowerCase();
    if (exact.has(lower) || patterns.some((p) => p.test(lower))) return true;
    // a page served by this very host is not cross-site: its origin's host:port is the Host it connects to
    return allowSame && host !== undefined && sameHost(lower, host.toLowerCase());
  };
}

function sameHost(origin: string, host: string): boolean {
  const sep = origin.indexOf('://');
  if (sep === -1) return false;
  const scheme = origin.slice(0, sep);
  let originHost = origin.slice(sep + 3);
  // browsers omit default ports in Origin; some clients send them in Host
  if (scheme === 'http' && host.endsWith(':80')) host = host.slice(0, -3);
  if (scheme === 'https' && host.endsWith(':443')) host = host.slice(0, -4);
  if (originHost.endsWith('/')) originHost = originHost.slice(0, -1);
  return (scheme === 'http' || scheme === 'https') && originHost === host;
}

/** Resolves `security.trustProxy` to a hop count, throwing a `TypeError` for a bad value. */
export function resolveTrustProxy(value: boolean | number | undefined): number {
  if (value === undefined || value === false) return 0;
  if (value === true) return 1;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 10) {
    throw new TypeError(`security.trustProxy must be a boolean or a hop count 0-10, got ${String(value)}`);
  }
  return value;
}

/**
 * The client's address: the peer's (`peerAddress` when the transport gives it), or with `hops` trusted proxies the entry
 * of `X-Forwarded-For` that many hops back from the peer (entries further left are whatever the client wrote, and
 * never trusted).
 */
export function clientIp(request: IncomingMessage, hops: number, peerAddress?: string): string {
  // a transport may know the peer better (Socket.IO: the handshake's address, the request's socket may be gone)
  const peer = normalizeIp(peerAddress ?? request.socket.remoteAddress ?? '');
  if (hops === 0) return peer;
  const header = request.headers['x-forwarded-for'];
  const text = Array.isArray(header) ? header.join(',') : header;
  if (text === undefined || text === '') return peer;
  const chain = text.split(',').map((s) => s.trim());
  chain.push(peer);
  const candidate = normalizeIp(chain[Math.max(0, chain.length - 1 - hops)] ?? '');
  return isIP(candidate) === 0 ? peer : candidate;
}

function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

/** Where a token was found in an upgrade request. */
export interface FoundToken {
  token: string | undefined;
  source: AuthRequest['source'];
}

/**
 * Finds a token in the `Authorization: Bearer` header, the query parameter, or the cookie (in that order). Other
 * `Authorization` schemes are ignored.
 */
export function findToken(
  request: IncomingMessage,
  queryParam: string | false,
  cookie: string | undefined,
): FoundToken {
  const authorization = request.headers.authorization;
  // other schemes are not ours (a browser repeats Basic credentials of a site behind HTTP auth): ignored
  if (authorization !== undefined && /^Bearer(?:\s|$)/i.test(authorization)) {
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
    if (match === null) {
      throw new UnisocketError(ErrorCode.UNAUTHORIZED, 'the Authorization header must be "Bearer <token>"', {
        httpStatus: 401,
      });
    }
    return { token: boundedToken(match[1]!), source: 'header' };
  }
  const url = request.url ?? '';
  const q = url.indexOf('?');
  if (queryParam !== false && q !== -1) {
    const value = new URLSearchParams(url.slice(q + 1)).get(queryParam);
    if (value !== null && value !== '') return { token: boundedToken(value), source: 'query' };
  }
  if (cookie !== undefined) {
    const value = readCookie(request.headers.cookie, cookie);
    if (value !== undefined && value !== '') return { token: boundedToken(value), source: 'cookie' };
  }
  return { token: undefined, source: undefined };
}

/** The token, or a 401 when it is longer than a token may be. */
export function boundedToken(token: string): string {
  if (token.length > MAX_TOKEN_LENGTH) {
    throw new UnisocketError(ErrorCode.UNAUTHORIZED, `the token is longer than ${MAX_TOKEN_LENGTH} characters`, {
      httpStatus: 401,
    });
  }
  return token;
}

/** One cookie's value from a `Cookie` header (RFC 6265 syntax; percent-decoded when it decodes). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    try {
      return decodeURIComponent(value);
    } catch {
      return value;
    }
  }
  return undefined;
}

/** Upgrades refused, by reason (`service.refusedUpgrades`). */
export interface RefusedUpgrades {
  origin: number;
  unauthorized: number;
  overloaded: number;
  perIp: number;
  unknownPath: number;
  unanswered: number;
}

/** What {@link AdmissionControl} is built from. */
export interface AdmissionControlOptions {
  maxConnections: number;
  maxConnectionsPerIp: number;
  originAllowed: OriginCheck;
  proxyHops: number;
  /** The identity a connection request carries (`ResolvedAuth.fromRequest`); throws or rejects to refuse. */
  authenticate(request: IncomingMessage, handshakeToken?: string): MaybePromise<Identity | undefined>;
  /** Counts a refusal (`refusedUpgrades[key]`, and the metric labelled `reason`). */
  refused(key: keyof RefusedUpgrades, reason: string): void;
}

/**
 * Admission before a connection exists, one function for every transport (the native upgrade, the Socket.IO connect
 * middleware): origin (403), memory pressure (503 while the memory level is critical or worse), node capacity (503),
 * per-address limit (429), then the token (401) — from the Socket.IO handshake's `auth.token`, else the
 * `Authorization` header, the query or the cookie. Capacity is reserved before the token is verified, so a burst of
 * connections cannot overshoot the limits while verifications are in flight; the transport settles the reservation
 * (`onSettled`) once the connection is open or abandoned.
 */
export class AdmissionControl {
  /** Connections and admitted-but-not-yet-open upgrades per client address. */
  readonly #perIp = new Map<string, number>();
  /** Upgrades admitted and not yet open or abandoned (count against maxConnections). */
  #inFlight = 0;
  readonly #o: AdmissionControlOptions;

  constructor(options: AdmissionControlOptions) {
    this.#o = options;
  }

  admit(hub: Hub, request: IncomingMessage, context: AdmissionContext): MaybePromise<Admission> {
    const o = this.#o;
    const origin = request.headers.origin;
    if (!o.originAllowed(origin, request.headers.host)) {
      o.refused('origin', 'origin');
      throw new UnisocketError(
        ErrorCode.FORBIDDEN,
        origin === undefined
          ? 'upgrades without an Origin header are not allowed here (security.allowMissingOrigin)'
          : `origin ${JSON.stringify(origin).slice(0, 200)} is not allowed (security.allowedOrigins)`,
        { httpStatus: 403, closeCode: CloseCode.POLICY },
      );
    }
    const refusing = hub.refusing;
    if (refusing !== undefined) {
      o.refused('overloaded', 'memory');
      throw new UnisocketError(ErrorCode.UNAVAILABLE, refusing, { httpStatus: 503, closeCode: CloseCode.OVERLOADED });
    }
    if (hub.connectionCount + this.#inFlight >= o.maxConnections) {
      o.refused('overloaded', 'overloaded');
      throw new UnisocketError(
        ErrorCode.UNAVAILABLE,
        `this node is at its connection limit (${o.maxConnections}); retry later or connect elsewhere`,
        { httpStatus: 503, closeCode: CloseCode.OVERLOADED },
      );
    }
    const ip = clientIp(request, o.proxyHops, context.ip);
    if ((this.#perIp.get(ip) ?? 0) >= o.maxConnectionsPerIp) {
      o.refused('perIp', 'per_ip');
      throw new UnisocketError(
        ErrorCode.LIMIT_EXCEEDED,
        `too many connections from this address (at most ${o.maxConnectionsPerIp}); close some first`,
        { httpStatus: 429 },
      );
    }
    // reserve: the slot is held from here until the connection closes or the upgrade is abandoned
    this.#inFlight++;
    this.#perIp.set(ip, (this.#perIp.get(ip) ?? 0) + 1);
    let released = false;
    const abandon = (): void => {
      if (released) return;
      released = true;
      this.#inFlight--;
      this.#releaseIp(ip);
    };
    const admitted = (identity: Identity | undefined): Admission => {
      const admission: Admission = {
        ip,
        onSettled: (conn) => {
          if (conn === undefined) {
            abandon();
            return;
          }
          released = true;
          this.#inFlight--;
          conn.admitted = true;
        },
      };
      if (identity !== undefined) admission.identity = identity;
      return admission;
    };
    const refused = (error: unknown): never => {
      abandon();
      o.refused('unauthorized', 'unauthorized');
      throw error;
    };
    let identity: MaybePromise<Identity | undefined>;
    try {
      identity = o.authenticate(request, context.token);
    } catch (error) {
      return refused(error);
    }
    if (identity instanceof Promise) return identity.then(admitted, refused);
    return admitted(identity);
  }

  /** Gives back an admitted connection's slot of its address (the Hub's `disconnect`). */
  release(conn: Connection): void {
    if (!conn.admitted) return;
    conn.admitted = false;
    this.#releaseIp(conn.ip);
  }

  #releaseIp(ip: string): void {
    const n = (this.#perIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.#perIp.delete(ip);
    else this.#perIp.set(ip, n);
  }
}
