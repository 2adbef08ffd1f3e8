import { createHash } from 'node:crypto';

/** The admin inspector (`admin` option): off unless a token is given. */
export interface AdminOptions {
  /**
   * The admin token (at least 16 characters; e.g. `openssl rand -base64 24`). Every admin API request must carry it
   * as `Authorization: Bearer <token>`; the page asks for it and keeps it in the tab's `sessionStorage`.
   */
  token: string;
  /**
   * Where the page and its API are served (`<path>` the page, `<path>/api/…` the JSON API).
   * @default '/admin'
   */
  path?: string;
}

/** The shortest admin token accepted. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;

/** The `admin` option, validated. */
export interface ResolvedAdminOptions {
  /** SHA-256 of the token (compared in constant time). */
  tokenHash: Buffer;
  path: string;
}

const PATH_RULE = /^\/[A-Za-z0-9._~/-]*[A-Za-z0-9._~-]$/;

/** Validates the `admin` option (a `TypeError` that says what to change); `undefined` when it is off. */
export function resolveAdminOptions(
  admin: AdminOptions | undefined,
  reserved: readonly string[] = [],
): ResolvedAdminOptions | undefined {
  if (admin === undefined) return undefined;
  if (typeof admin !== 'object' || admin === null)
    throw new TypeError('admin must be { token: string, path?: string }');
  for (const key of Object.keys(admin)) {
    if (key !== 'token' && key !== 'path')
      throw new TypeError(`unknown option admin.${key}; known options: token, path`);
  }
  if (typeof admin.token !== 'string' || admin.token.length < MIN_ADMIN_TOKEN_LENGTH) {
    throw new TypeError(
      `admin.token must be a string of at least ${MIN_ADMIN_TOKEN_LENGTH} characters, e.g. $(openssl rand -base64 24)`,
    );
  }
  const path = admin.path ?? '/admin';
  if (typeof path !== 'string' || !PATH_RULE.test(path) || path.includes('//')) {
    throw new TypeError(
      `admin.path must start with "/" and hold only letters, digits and . _ ~ - / (no trailing "/"), got ${JSON.stringify(admin.path)}`,
    );
  }
  const clash = reserved.find((p) => p === path || p.startsWith(`${path}/`) || path.startsWith(`${p}/`));
  if (clash !== undefined) throw new TypeError(`admin.path ${path} overlaps the HTTP API's ${clash}`);
  return { tokenHash: sha256(admin.token), path };
}

/** SHA-256 of a string. */
export function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
