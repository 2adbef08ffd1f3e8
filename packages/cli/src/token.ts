import { signChannelToken, signConnectionToken } from '@unisocket/server/tokens';
import { CliError, ExitCode } from './errors';

/** What {@link createToken} signs. */
export interface CreateTokenOptions {
  /** The user (`sub`). */
  sub: string;
  /** The HMAC secret (HS256), at least 32 bytes: the server's `JWT_SECRET`. */
  secret: string | undefined;
  /** Lifetime in seconds. @default 3600 (1 h) for a connection token, 600 (10 min) for a subscription token */
  ttlSeconds?: number;
  /** More claims (`--claim k=v` strings, `--claim k:=json` parsed); not with `channel`. */
  claims?: Record<string, unknown>;
  /** A `private-…`/`presence-…` channel: signs a subscription token for it instead of a connection token. */
  channel?: string;
}

const RESERVED = ['sub', 'exp', 'iat', 'nbf'];
const MIN_SECRET_BYTES = 32;

/**
 * Signs a connection token (`sub`, the claims, `iat`, `exp`) or, with `channel`, a subscription token (`sub`,
 * `channel`, `exp`) with an HS256 secret, as `unisocket token` does.
 *
 * @example
 * ```ts
 * const jwt = await createToken({ sub: 'u1', secret: process.env.JWT_SECRET, ttlSeconds: 3600, claims: { role: 'admin' } });
 * ```
 * @throws {CliError} (exit 2) without a secret, with a short one, or with reserved or misplaced claims
 */
export async function createToken(options: CreateTokenOptions): Promise<string> {
  const { secret } = options;
  if (secret === undefined || secret === '') {
    throw new CliError(
      'no secret to sign with: set JWT_SECRET (the secret the server verifies tokens with) or pass --secret',
      ExitCode.USAGE,
    );
  }
  const bytes = Buffer.byteLength(secret);
  if (bytes < MIN_SECRET_BYTES) {
    throw new CliError(
      `JWT_SECRET is ${bytes} bytes; the server needs at least ${MIN_SECRET_BYTES}: e.g. JWT_SECRET=$(openssl rand -base64 32)`,
      ExitCode.USAGE,
    );
  }
  if (options.sub === '') throw new CliError('--sub must not be empty', ExitCode.USAGE);
  const claims = options.claims ?? {};
  for (const key of Object.keys(claims)) {
    if (RESERVED.includes(key)) {
      throw new CliError(`--claim ${key}=… is set by the token itself (use --sub / --ttl)`, ExitCode.USAGE);
    }
  }
  if (options.channel !== undefined) {
    const extra = Object.keys(claims).filter((key) => key !== 'info');
    if (extra.length > 0) {
      throw new CliError(
        `a subscription token (--channel) carries sub, channel, info and exp only; drop --claim ${extra.join(', ')}`,
        ExitCode.USAGE,
      );
    }
    return signChannelToken({
      secret,
      userId: options.sub,
      channel: options.channel,
      ...(claims.info === undefined ? {} : { info: claims.info }),
      ...(options.ttlSeconds === undefined ? {} : { expiresIn: options.ttlSeconds }),
    });
  }
  return signConnectionToken({
    secret,
    userId: options.sub,
    claims,
    ...(options.ttlSeconds === undefined ? {} : { expiresIn: options.ttlSeconds }),
  });
}

/**
 * Parses `--claim` values: `k=v` sets a string, `k:=json` a JSON value (`n:=5`, `admin:=true`, `info:={"name":"Ann"}`).
 *
 * @throws {TypeError} for a value without `=` or with bad JSON
 */
export function parseClaim(value: string, previous: Record<string, unknown> = {}): Record<string, unknown> {
  const json = /^([^=:]+):=(.*)$/s.exec(value);
  const plain = /^([^=]+)=(.*)$/s.exec(value);
  if (json?.[1] !== undefined && json[2] !== undefined) {
    try {
      return { ...previous, [json[1]]: JSON.parse(json[2]) };
    } catch {
      throw new TypeError(`--claim ${json[1]}:= needs a JSON value, got ${JSON.stringify(json[2])}`);
    }
  }
  if (plain?.[1] === undefined || plain[2] === undefined || plain[1].trim() === '') {
    throw new TypeError(`--claim must be key=value (a string) or key:=json, got ${JSON.stringify(value)}`);
  }
  return { ...previous, [plain[1]]: plain[2] };
}
