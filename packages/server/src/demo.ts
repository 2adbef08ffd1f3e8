import { ErrorCode, UnisocketError } from '@unisocket/core';
import { MIN_SECRET_BYTES } from './jwt';
import type { UnifiedWebSocketServiceOptions } from './options';

/** The environment variables {@link demoAuthFromEnv} reads. */
export interface DemoEnv {
  /** When set, JWT authentication is on (HS256 with this secret, at least 32 bytes). */
  JWT_SECRET?: string | undefined;
  /** Comma-separated allowed browser origins (`security.allowedOrigins`); `*` or unset allows any. */
  CORS_ORIGIN?: string | undefined;
  [name: string]: string | undefined;
}

/** The presence channel of the demo. */
export const DEMO_PRESENCE_CHANNEL = 'presence-lobby';

/**
 * The demo app's auth, permissions and origins from the environment (its fixed interface: `JWT_SECRET`, the presence lobby, `user:<sub>`):
 *
 * - clients may publish on public channels;
 * - with `JWT_SECRET`: connection tokens are HS256 JWTs signed with it (`sub` = user, `info` = presence info; sign
 *   them with `signConnectionToken`); every authenticated user may join `presence-lobby` and whisper (`client-…`
 *   events) there, and has its own `user:<sub>`; other private and presence channels are refused;
 * - without `JWT_SECRET`: no authentication; private and presence channels are refused;
 * - `CORS_ORIGIN` (comma-separated) restricts the browser origins that may connect.
 *
 * @example
 * ```ts
 * const service = createUnifiedWebSocketService({ path: '/ws', ...demoAuthFromEnv(process.env), http: { apiKey } });
 * ```
 * @throws {TypeError} when `JWT_SECRET` is shorter than 32 bytes or `CORS_ORIGIN` is malformed
 */
export function demoAuthFromEnv(
  env: DemoEnv = process.env,
): Pick<UnifiedWebSocketServiceOptions, 'auth' | 'permissions' | 'security'> {
  const out: Pick<UnifiedWebSocketServiceOptions, 'auth' | 'permissions' | 'security'> = {};
  const cors = env.CORS_ORIGIN?.trim();
  if (cors !== undefined && cors !== '') {
    out.security = {
      allowedOrigins: cors
        .split(',')
        .map((o) => o.trim())
        .filter((o) => o !== ''),
    };
  }
  const secret = env.JWT_SECRET;
  if (secret === undefined || secret === '') {
    out.permissions = { publish: ['public'] };
    return out;
  }
  const bytes = Buffer.byteLength(secret);
  if (bytes < MIN_SECRET_BYTES) {
    throw new TypeError(
      `JWT_SECRET is ${bytes} bytes; use at least ${MIN_SECRET_BYTES} random bytes, e.g. JWT_SECRET=$(openssl rand -base64 32)`,
    );
  }
  out.permissions = { publish: ['public'], whisper: true };
  out.auth = {
    jwt: { secret },
    authorizeChannel(conn, channel, context) {
      if (context.kind === 'public') return true;
      if (channel !== DEMO_PRESENCE_CHANNEL) {
        throw new UnisocketError(
          ErrorCode.FORBIDDEN,
          `the demo opens one presence channel, "${DEMO_PRESENCE_CHANNEL}"; "${channel}" is refused`,
        );
      }
      if (conn.userId === null) {
        throw new UnisocketError(
          ErrorCode.UNAUTHORIZED,
          `"${DEMO_PRESENCE_CHANNEL}" is for signed-in users: send {"type":"auth","token":…} first`,
        );
      }
      return true;
    },
  };
  return out;
}
