import type { IncomingMessage } from 'node:http';
import {
  type ChannelName,
  type Connection,
  ErrorCode,
  type HubPolicy,
  type Identity,
  type MaybePromise,
  type SubscribeContext,
  type SubscribeGrant,
  UnisocketError,
  channelKind,
  isUnisocketError,
} from '@unisocket/core';
import type { JWTPayload } from 'jose';
import { type FoundToken, boundedToken, findToken } from './admission';
import { type JwtVerifier, createJwtVerifier, secretBytes } from './jwt';
import { type AuthOptions, DEFAULT_AUTH_OPTIONS, type JwtKeyOptions, compilePublishPermission } from './auth-options';
import type { UnifiedWebSocketServiceOptions } from './options';
import { hmacHex, pusherSubject, sameSignature } from './hmac';

/** The auth options, validated and compiled. */
export interface ResolvedAuth {
  /** `true` when connections can authenticate at all (`auth.jwt` or `auth.authenticate`). */
  enabled: boolean;
  required: boolean;
  refreshLeadMs: number;
  refreshGraceMs: number;
  /**
   * The identity a connection request carries, `undefined` for anonymous; throws (or rejects) 401 to refuse.
   * `handshakeToken` is a token the transport's own handshake carried (Socket.IO `auth.token`): it comes first.
   */
  fromRequest(request: IncomingMessage, handshakeToken?: string): MaybePromise<Identity | undefined>;
  /** The Hub policy: `auth` command, subscriptions, client publishes. */
  policy: HubPolicy;
}

const AUTH_KEYS = new Set([
  'jwt',
  'authenticate',
  'required',
  'queryParam',
  'cookie',
  'authorizeChannel',
  'subscriptionTokens',
  'refreshLeadMs',
  'refreshGraceMs',
]);
const JWT_KEYS = new Set([
  'secret',
  'publicKey',
  'jwksUrl',
  'algorithms',
  'issuer',
  'audience',
  'clockToleranceSec',
  'requireExpiry',
  'mapClaims',
]);
const KEY_ONLY_KEYS = new Set([
  'secret',
  'publicKey',
  'jwksUrl',
  'algorithms',
  'issuer',
  'audience',
  'clockToleranceSec',
]);
const SUBSCRIPTION_TOKEN_KEYS = new Set(['jwt', 'hmac', 'channelClaim']);
const REGISTERED_CLAIMS = new Set(['sub', 'exp', 'iat', 'nbf', 'iss', 'aud', 'jti', 'info']);
const MAX_USER_ID_LENGTH = 200;
const HMAC_TOKEN = /^([^:\s]{1,100}):([0-9a-fA-F]{64})$/;
const JWT_TOKEN = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * Validates `auth` and `permissions` (and their contradictions) and compiles them. Throws a `TypeError` that says
 * what to change.
 */
export function resolveAuth(options: UnifiedWebSocketServiceOptions): ResolvedAuth {
  const auth: AuthOptions = options.auth ?? {};
  if (typeof auth !== 'object' || auth === null) throw new TypeError('auth must be an object');
  knownKeys('auth', auth, AUTH_KEYS);
  const { jwt, authenticate } = auth;
  if (jwt !== undefined && authenticate !== undefined) {
    throw new TypeError(
      'auth.jwt and auth.authenticate are exclusive: auth.authenticate replaces JWT verification for a custom scheme; set one of them',
    );
  }
  if (authenticate !== undefined && typeof authenticate !== 'function') {
    throw new TypeError('auth.authenticate must be a function (request) => identity | null');
  }
  const enabled = jwt !== undefined || authenticate !== undefined;
  const required = auth.required ?? DEFAULT_AUTH_OPTIONS.required;
  if (typeof required !== 'boolean') throw new TypeError('auth.required must be a boolean');
  if (required && !enabled) {
    throw new TypeError('auth.required needs a way to authenticate: set auth.jwt (or auth.authenticate)');
  }
  const queryParam = auth.queryParam ?? DEFAULT_AUTH_OPTIONS.queryParam;
  if (queryParam !== false && (typeof queryParam !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(queryParam))) {
    throw new TypeError(
      `auth.queryParam must be a parameter name such as 'token', or false; got ${JSON.stringify(queryParam)}`,
    );
  }
  const cookie = auth.cookie;
  if (cookie !== undefined) {
    if (typeof cookie !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/.test(cookie)) {
      throw new TypeError(`auth.cookie must be a cookie name, got ${JSON.stringify(cookie)}`);
    }
    if (!enabled) throw new TypeError('auth.cookie needs a way to verify it: set auth.jwt (or auth.authenticate)');
    const origins = options.security?.allowedOrigins;
    if (origins === undefined || origins.includes('*')) {
      throw new TypeError(
        'auth.cookie lets any website open authenticated connections for your users (cross-site WebSocket hijacking) ' +
          "unless the origins are restricted: set security.allowedOrigins to your sites, e.g. ['https://app.example.com']",
      );
    }
  }
  const refreshLeadMs = nonNegativeInteger(
    'auth.refreshLeadMs',
    auth.refreshLeadMs ?? DEFAULT_AUTH_OPTIONS.refreshLeadMs,
  );
  const refreshGraceMs = nonNegativeInteger(
    'auth.refreshGraceMs',
    auth.refreshGraceMs ?? DEFAULT_AUTH_OPTIONS.refreshGraceMs,
  );
  if (auth.authorizeChannel !== undefined && typeof auth.authorizeChannel !== 'function') {
    throw new TypeError('auth.authorizeChannel must be a function (conn, channel, context) => boolean | grant');
  }

  const tokens = auth.subscriptionTokens ?? {};
  if (typeof tokens !== 'object' || tokens === null) throw new TypeError('auth.subscriptionTokens must be an object');
  knownKeys('auth.subscriptionTokens', tokens, SUBSCRIPTION_TOKEN_KEYS);
  const channelClaim = tokens.channelClaim ?? DEFAULT_AUTH_OPTIONS.channelClaim;
  if (typeof channelClaim !== 'string' || channelClaim.length === 0 || REGISTERED_CLAIMS.has(channelClaim)) {
    throw new TypeError(
      `auth.subscriptionTokens.channelClaim must be a claim name other than ${[...REGISTERED_CLAIMS].join(', ')}; got ${JSON.stringify(channelClaim)}`,
    );
  }

  let connectionVerifier: JwtVerifier | undefined;
  let requireExpiry = true;
  let mapClaims: NonNullable<AuthOptions['jwt']>['mapClaims'];
  if (jwt !== undefined) {
    if (typeof jwt !== 'object' || jwt === null) throw new TypeError('auth.jwt must be an object such as { secret }');
    knownKeys('auth.jwt', jwt, JWT_KEYS);
    connectionVerifier = createJwtVerifier('auth.jwt', jwt);
    requireExpiry = jwt.requireExpiry ?? DEFAULT_AUTH_OPTIONS.requireExpiry;
    if (typeof requireExpiry !== 'boolean') throw new TypeError('auth.jwt.requireExpiry must be a boolean');
    mapClaims = jwt.mapClaims;
    if (mapClaims !== undefined && typeof mapClaims !== 'function')
      throw new TypeError('auth.jwt.mapClaims must be a function');
  }

  let channelVerifier: JwtVerifier | undefined;
  const tokenJwt = tokens.jwt ?? jwt !== undefined;
  if (tokenJwt === true) {
    if (connectionVerifier === undefined) {
      throw new TypeError(
        'auth.subscriptionTokens.jwt: true verifies subscription tokens with auth.jwt’s keys, but auth.jwt is not set; give the keys: subscriptionTokens.jwt: { secret }',
      );
    }
    channelVerifier = connectionVerifier;
  } else if (tokenJwt !== false) {
    if (typeof tokenJwt !== 'object' || tokenJwt === null) {
      throw new TypeError('auth.subscriptionTokens.jwt must be a boolean or key options such as { secret }');
    }
    knownKeys('auth.subscriptionTokens.jwt', tokenJwt, KEY_ONLY_KEYS);
    channelVerifier = createJwtVerifier('auth.subscriptionTokens.jwt', tokenJwt as JwtKeyOptions);
  }
  const hmacKeys = resolveHmacKeys(tokens.hmac);

  // ---- connection identity ---------------------------------------------------------------------------------

  const identityFromClaims = (claims: JWTPayload): MaybePromise<Identity> => {
    if (claims[channelClaim] !== undefined) {
      throw unauthorized(
        `this is a subscription token (it has a "${channelClaim}" claim): authenticate with a connection token`,
      );
    }
    if (claims.exp === undefined && requireExpiry) {
      throw unauthorized('the token has no "exp" claim; connection tokens must expire (auth.jwt.requireExpiry)');
    }
    const expiresAt = claims.exp === undefined ? undefined : claims.exp * 1000;
    const finish = (mapped: { userId: string; info?: unknown } | null | undefined): Identity => {
      if (mapped === null || mapped === undefined) throw unauthorized('the token was refused');
      const userId = mapped.userId;
      if (typeof userId !== 'string' || userId.length === 0 || userId.length > MAX_USER_ID_LENGTH) {
        throw unauthorized(
          `the token has no usable "sub" claim (the user id: a string of 1-${MAX_USER_ID_LENGTH} characters)`,
        );
      }
      const identity: Identity = { userId };
      if (mapped.info !== undefined) identity.info = mapped.info;
      if (expiresAt !== undefined) identity.expiresAt = expiresAt;
      return identity;
    };
    if (mapClaims === undefined) return finish({ userId: claims.sub as string, info: claims.info });
    const mapped = mapClaims(claims);
    return mapped instanceof Promise ? mapped.then(finish) : finish(mapped);
  };

  const verifyConnectionToken = async (token: string): Promise<Identity> =>
    identityFromClaims(await connectionVerifier!(token));

  const fromHook = async (
    request: Parameters<NonNullable<AuthOptions['authenticate']>>[0],
  ): Promise<Identity | undefined> => {
    let identity: Identity | null | undefined;
    try {
      identity = await authenticate!(request);
    } catch (error) {
      if (isUnisocketError(error)) {
        if (error.httpStatus !== undefined) throw error;
        throw new UnisocketError(error.code, error.message, { cause: error, httpStatus: 401 });
      }
      // fail closed, the same way at upgrade and for the auth command
      throw new UnisocketError(ErrorCode.UNAUTHORIZED, 'authentication failed', { cause: error, httpStatus: 401 });
    }
    if (identity === null || identity === undefined) return undefined;
    return checkIdentity(identity);
  };

  const missing = (): UnisocketError =>
    unauthorized(
      `authentication required: send "Authorization: Bearer <token>"${queryParam === false ? '' : `, ?${queryParam}=<token>`}` +
        `${cookie === undefined ? '' : ` or the ${cookie} cookie`}`,
    );

  const fromRequest = (request: IncomingMessage, handshakeToken?: string): MaybePromise<Identity | undefined> => {
    if (!enabled) return undefined;
    const found: FoundToken =
      handshakeToken === undefined
        ? findToken(request, queryParam, cookie)
        : { token: boundedToken(handshakeToken), source: 'handshake' };
    if (connectionVerifier !== undefined) {
      if (found.token === undefined) {
        if (required) throw missing();
        return undefined;
      }
      return verifyConnectionToken(found.token);
    }
    return fromHook({ token: found.token, source: found.source, request, connection: undefined }).then((identity) => {
      if (identity === undefined && required) throw missing();
      return identity;
    });
  };

  // ---- the Hub policy ----------------------------------------------------------------------------------------

  const policy: HubPolicy = {};
  if (connectionVerifier !== undefined) policy.authenticate = (_conn, token) => verifyConnectionToken(token);
  else if (authenticate !== undefined) {
    policy.authenticate = async (conn, token) => {
      const identity = await fromHook({ token, source: 'command', request: undefined, connection: conn });
      if (identity === undefined) throw unauthorized('the token was refused');
      return identity;
    };
  }

  const verifyChannelJwt = async (
    conn: Connection,
    channel: ChannelName,
    token: string,
  ): Promise<boolean | SubscribeGrant> => {
    if (conn.userId === null) {
      throw unauthorized(
        'JWT subscription tokens are bound to a user: authenticate the connection first (the auth command)',
      );
    }
    let claims: JWTPayload;
    try {
      claims = await channelVerifier!(token);
    } catch (error) {
      const e = error as UnisocketError;
      throw new UnisocketError(e.code, `subscription token: ${e.message}`, { cause: e });
    }
    const granted = claims[channelClaim];
    if (granted !== channel) {
      throw new UnisocketError(
        ErrorCode.FORBIDDEN,
        granted === undefined
          ? `the token has no "${channelClaim}" claim: it is not a subscription token`
          : `the subscription token is for ${JSON.stringify(String(granted)).slice(0, 210)}, not "${channel}"`,
      );
    }
    if (claims.sub !== conn.userId) {
      throw new UnisocketError(
        ErrorCode.FORBIDDEN,
        `the subscription token is for user ${JSON.stringify(String(claims.sub)).slice(0, 210)}, but this connection is "${conn.userId}"`,
      );
    }
    if (claims.exp === undefined) throw unauthorized('subscription tokens must expire: the token has no "exp" claim');
    return claims.info === undefined ? true : { info: claims.info };
  };

  const verifyChannelHmac = (
    conn: Connection,
    channel: ChannelName,
    context: SubscribeContext,
    key: string,
    signature: string,
  ): boolean | SubscribeGrant => {
    const secret = hmacKeys!.get(key);
    if (secret === undefined) throw unauthorized(`unknown signing key "${key}" in the subscription token`);
    const expected = hmacHex(secret, pusherSubject(conn.id, channel, context.channelData));
    if (!sameSignature(expected, signature.toLowerCase())) {
      throw unauthorized(
        `the subscription signature does not match this connection and channel: sign "<connectionId>:${channel}"` +
          `${context.kind === 'presence' ? ' (presence: "<connectionId>:<channel>:<channelData>")' : ''} with the shared secret`,
      );
    }
    if (context.kind !== 'presence' || context.channelData === undefined) return true;
    return memberFromChannelData(context.channelData);
  };

  /** A subscription token decides on its own, when a configured form fits it; `undefined` otherwise. */
  const decideByToken = (
    conn: Connection,
    channel: ChannelName,
    context: SubscribeContext,
  ): MaybePromise<boolean | SubscribeGrant> | undefined => {
    const token = context.token!;
    const hmac = hmacKeys === undefined ? null : HMAC_TOKEN.exec(token);
    if (hmac !== null) return verifyChannelHmac(conn, channel, context, hmac[1]!, hmac[2]!);
    if (channelVerifier !== undefined && JWT_TOKEN.test(token)) return verifyChannelJwt(conn, channel, token);
    return undefined;
  };

  const hook = auth.authorizeChannel;
  const tokenForms = [
    channelVerifier === undefined ? '' : 'a JWT',
    hmacKeys === undefined ? '' : 'a Pusher-style HMAC signature',
  ]
    .filter(Boolean)
    .join(' or ');
  policy.authorizeSubscribe = (conn, channel, context) => {
    const restricted = context.kind === 'private' || context.kind === 'presence';
    if (restricted && context.token !== undefined) {
      const decided = decideByToken(conn, channel, context);
      if (decided !== undefined) return decided;
    }
    if (hook !== undefined) return hook(conn, channel, context);
    if (!restricted) return true;
    let why: string;
    if (tokenForms === '') {
      why =
        'this server has neither auth.subscriptionTokens nor auth.authorizeChannel, so private and presence channels are refused';
    } else if (context.token === undefined) {
      why = `subscribe with a subscription token (${tokenForms}) from your backend`;
    } else {
      why = `the token is not ${tokenForms}`;
    }
    throw new UnisocketError(ErrorCode.FORBIDDEN, `"${channel}" is a ${context.kind} channel: ${why}`);
  };

  // ---- client publish ----------------------------------------------------------------------------------------

  const permissions = options.permissions ?? {};
  if (typeof permissions !== 'object' || permissions === null) throw new TypeError('permissions must be an object');
  knownKeys('permissions', permissions, new Set(['publish', 'whisper']));
  const allowed = compilePublishPermission(permissions.publish);
  const whisper = permissions.whisper ?? false;
  if (typeof whisper !== 'boolean') throw new TypeError('permissions.whisper must be a boolean');
  policy.authorizePublish = (conn, channel, event) => {
    const kind = channelKind(channel);
    if (kind === 'private' || kind === 'presence') {
      if (!conn.hasSubscription(channel)) {
        throw new UnisocketError(
          ErrorCode.FORBIDDEN,
          `subscribe to "${channel}" before publishing on it: ${kind} channels take publishes from their authorized subscribers only`,
        );
      }
      if (whisper && event.startsWith('client-')) return true;
    }
    if (allowed === undefined) {
      throw new UnisocketError(
        ErrorCode.FORBIDDEN,
        `clients may not publish on "${channel}": no permissions.publish pattern allows it` +
          (whisper && (kind === 'private' || kind === 'presence') ? ' (whispers are events named "client-…")' : ''),
      );
    }
    const verdict = allowed(conn, channel, event);
    const refuse = (ok: boolean): true => {
      if (ok) return true;
      throw new UnisocketError(
        ErrorCode.FORBIDDEN,
        typeof permissions.publish === 'function'
          ? `publishing "${event}" on "${channel}" is not allowed for this connection`
          : `clients may not publish on "${channel}": no permissions.publish pattern matches it`,
      );
    };
    return verdict instanceof Promise ? verdict.then(refuse) : refuse(verdict);
  };

  return { enabled, required, refreshLeadMs, refreshGraceMs, fromRequest, policy };
}

function resolveHmacKeys(value: unknown): Map<string, string | Uint8Array> | undefined {
  if (value === undefined) return undefined;
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0)
    throw new TypeError('auth.subscriptionTokens.hmac must be { key, secret } or a non-empty array of them');
  const keys = new Map<string, string | Uint8Array>();
  for (const entry of list as { key?: unknown; secret?: unknown }[]) {
    if (
      typeof entry !== 'object' ||
      entry === null ||
      typeof entry.key !== 'string' ||
      !/^[^:\s]{1,100}$/.test(entry.key)
    ) {
      throw new TypeError('auth.subscriptionTokens.hmac entries need a key: 1-100 characters without ":" or spaces');
    }
    if (keys.has(entry.key)) throw new TypeError(`auth.subscriptionTokens.hmac lists the key "${entry.key}" twice`);
    secretBytes(`auth.subscriptionTokens.hmac (key "${entry.key}").secret`, entry.secret);
    keys.set(entry.key, entry.secret as string | Uint8Array);
  }
  return keys;
}

function memberFromChannelData(text: string): SubscribeGrant {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    data = undefined;
  }
  const userId = (data as { user_id?: unknown } | undefined)?.user_id;
  const id = typeof userId === 'number' && Number.isFinite(userId) ? String(userId) : userId;
  if (
    typeof data !== 'object' ||
    data === null ||
    typeof id !== 'string' ||
    id.length === 0 ||
    id.length > MAX_USER_ID_LENGTH
  ) {
    throw new UnisocketError(
      ErrorCode.BAD_REQUEST,
      'channelData must be JSON {"user_id": string or number, "user_info"?: any}',
    );
  }
  const info = Object.hasOwn(data, 'user_info') ? (data as { user_info: unknown }).user_info : undefined;
  return info === undefined ? { userId: id } : { userId: id, info };
}

function checkIdentity(identity: Identity): Identity {
  const ok =
    typeof identity === 'object' &&
    identity !== null &&
    typeof identity.userId === 'string' &&
    identity.userId.length > 0 &&
    identity.userId.length <= MAX_USER_ID_LENGTH &&
    (identity.expiresAt === undefined ||
      (typeof identity.expiresAt === 'number' && Number.isFinite(identity.expiresAt)));
  if (ok && identity.expiresAt !== undefined && identity.expiresAt < 1e11) {
    throw new UnisocketError(
      ErrorCode.INTERNAL,
      `auth.authenticate returned expiresAt ${identity.expiresAt}, which looks like seconds: give epoch milliseconds (exp * 1000)`,
      { httpStatus: 500 },
    );
  }
  if (!ok) {
    throw new UnisocketError(
      ErrorCode.INTERNAL,
      `auth.authenticate returned an invalid identity: expected { userId: string (1-${MAX_USER_ID_LENGTH} chars), info?, expiresAt?: epoch ms }`,
      { httpStatus: 500 },
    );
  }
  return identity;
}

function unauthorized(message: string): UnisocketError {
  return new UnisocketError(ErrorCode.UNAUTHORIZED, message, { httpStatus: 401 });
}

function nonNegativeInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new TypeError(`${name} must be an integer >= 0, got ${String(value)}`);
  }
  return value;
}

function knownKeys(group: string, value: object, known: Set<string>): void {
  for (const key of Object.keys(value)) {
    if (!known.has(key)) throw new TypeError(`unknown option ${group}.${key}; known options: ${[...known].join(', ')}`);
  }
}
