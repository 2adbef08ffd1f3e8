import { type KeyObject, createPublicKey } from 'node:crypto';
import { ErrorCode, UnisocketError } from '@unisocket/core';
import { type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions, createRemoteJWKSet, jwtVerify } from 'jose';
import type { JwtKeyOptions } from './auth-options';

/** Verifies a JWT and returns its claims; rejects with a {@link UnisocketError} that says why. */
export type JwtVerifier = (token: string) => Promise<JWTPayload>;

const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'];
const RSA_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const PSS_ALGORITHMS = ['PS256', 'PS384', 'PS512'];
const EC_ALGORITHMS: Record<string, string> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };
const EDDSA_ALGORITHMS = ['EdDSA', 'Ed25519'];
const ASYMMETRIC_ALGORITHMS = [...RSA_ALGORITHMS, 'ES256', 'ES384', 'ES512', ...EDDSA_ALGORITHMS];
/** RFC 7518 §3.2: an HMAC key at least as long as the hash output. */
export const MIN_SECRET_BYTES = 32;

/**
 * Builds a verifier from key options, throwing a `TypeError` that names `group` (e.g. `auth.jwt`) for a bad or
 * contradictory option.
 */
export function createJwtVerifier(group: string, options: JwtKeyOptions): JwtVerifier {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${group} must be an object`);
  const given = (['secret', 'publicKey', 'jwksUrl'] as const).filter((k) => options[k] !== undefined);
  if (given.length !== 1) {
    throw new TypeError(
      given.length === 0
        ? `${group} needs a key: set exactly one of secret (HS256), publicKey (RS256/ES256/EdDSA PEM) or jwksUrl`
        : `${group} sets ${given.join(' and ')}: set exactly one of secret, publicKey or jwksUrl`,
    );
  }
  let key: Uint8Array | KeyObject | JWTVerifyGetKey;
  let fitting: string[];
  if (options.secret !== undefined) {
    key = secretBytes(`${group}.secret`, options.secret);
    fitting = HMAC_ALGORITHMS;
  } else if (options.publicKey !== undefined) {
    const publicKey = toPublicKey(`${group}.publicKey`, options.publicKey);
    key = publicKey;
    fitting = algorithmsOf(`${group}.publicKey`, publicKey);
  } else {
    let url: URL;
    try {
      url = new URL(String(options.jwksUrl));
    } catch {
      throw new TypeError(
        `${group}.jwksUrl must be an absolute http(s) URL, got ${JSON.stringify(String(options.jwksUrl))}`,
      );
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new TypeError(`${group}.jwksUrl must be an http(s) URL, got ${JSON.stringify(url.href)}`);
    }
    key = createRemoteJWKSet(url);
    fitting = ASYMMETRIC_ALGORITHMS;
  }
  let algorithms = fitting;
  if (options.algorithms !== undefined) {
    if (!Array.isArray(options.algorithms) || options.algorithms.length === 0) {
      throw new TypeError(`${group}.algorithms must be a non-empty array such as ['HS256'] or ['RS256']`);
    }
    for (const alg of options.algorithms) {
      if (!fitting.includes(alg)) {
        throw new TypeError(
          `${group}.algorithms lists ${JSON.stringify(alg)}, which does not fit the ${given[0]}; use some of ${fitting.join(', ')}`,
        );
      }
    }
    algorithms = [...options.algorithms];
  }
  const clockTolerance = options.clockToleranceSec ?? 5;
  if (typeof clockTolerance !== 'number' || !Number.isFinite(clockTolerance) || clockTolerance < 0) {
    throw new TypeError(`${group}.clockToleranceSec must be a number >= 0, got ${String(options.clockToleranceSec)}`);
  }
  const verifyOptions: JWTVerifyOptions = { algorithms, clockTolerance };
  if (options.issuer !== undefined) verifyOptions.issuer = stringOrList(`${group}.issuer`, options.issuer);
  if (options.audience !== undefined) verifyOptions.audience = stringOrList(`${group}.audience`, options.audience);

  return async (token) => {
    try {
      const { payload } =
        typeof key === 'function'
          ? await jwtVerify(token, key, verifyOptions)
          : await jwtVerify(token, key, verifyOptions);
      return payload;
    } catch (error) {
      throw describeJwtError(error);
    }
  };
}

/** Turns a jose error into a client-facing {@link UnisocketError} (401, or 503 when the keys cannot be fetched). */
export function describeJwtError(error: unknown): UnisocketError {
  const code = (error as { code?: unknown } | null)?.code;
  const unauthorized = (message: string): UnisocketError =>
    new UnisocketError(ErrorCode.UNAUTHORIZED, message, { cause: error, httpStatus: 401 });
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return unauthorized('token expired: get a fresh one');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return unauthorized(`token rejected: ${(error as Error).message}`);
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return unauthorized('token signature is invalid');
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return unauthorized('token algorithm is not accepted by this server');
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return unauthorized('token is malformed: expected a signed JWT');
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return unauthorized('no signing key matches the token (check its "kid")');
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return unauthorized('several signing keys match the token: give it a "kid"');
    case 'ERR_JWKS_TIMEOUT':
    case 'ERR_JWKS_INVALID':
    case 'ERR_JOSE_GENERIC':
      return new UnisocketError(ErrorCode.UNAVAILABLE, 'cannot fetch the signing keys now; retry later', {
        cause: error,
        httpStatus: 503,
      });
    default:
      // a failed JWKS fetch surfaces as a plain fetch TypeError: not the client's fault
      if (error instanceof TypeError) {
        return new UnisocketError(ErrorCode.UNAVAILABLE, 'cannot fetch the signing keys now; retry later', {
          cause: error,
          httpStatus: 503,
        });
      }
      return unauthorized('invalid token');
  }
}

/** Validates an HMAC secret: at least {@link MIN_SECRET_BYTES} bytes. */
export function secretBytes(name: string, secret: unknown): Uint8Array {
  let bytes: Uint8Array;
  if (typeof secret === 'string') bytes = new TextEncoder().encode(secret);
  else if (secret instanceof Uint8Array) bytes = secret;
  else throw new TypeError(`${name} must be a string or a Uint8Array`);
  if (bytes.length < MIN_SECRET_BYTES) {
    throw new TypeError(
      `${name} is ${bytes.length} bytes; use at least ${MIN_SECRET_BYTES} random bytes (RFC 7518 §3.2), e.g. \`openssl rand -base64 32\``,
    );
  }
  return bytes;
}

function toPublicKey(name: string, value: unknown): KeyObject {
  if (typeof value === 'string') {
    try {
      return createPublicKey(value);
    } catch (error) {
      throw new TypeError(`${name} is not a PEM public key or certificate: ${(error as Error).message}`);
    }
  }
  const key = value as KeyObject;
  if (typeof key !== 'object' || key === null || typeof key.type !== 'string') {
    throw new TypeError(`${name} must be a PEM string or a KeyObject`);
  }
  if (key.type === 'private') {
    throw new TypeError(
      `${name} is a private key: pass the public key (createPublicKey(privateKey)), never the private one`,
    );
  }
  if (key.type !== 'public') throw new TypeError(`${name} is a secret key: use auth.jwt.secret for HMAC`);
  return key;
}

function algorithmsOf(name: string, key: KeyObject): string[] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return RSA_ALGORITHMS;
    case 'rsa-pss':
      return PSS_ALGORITHMS;
    case 'ec': {
      const alg = EC_ALGORITHMS[key.asymmetricKeyDetails?.namedCurve ?? ''];
      if (alg === undefined)
        throw new TypeError(
          `${name}: EC curve ${String(key.asymmetricKeyDetails?.namedCurve)} is not supported; use P-256, P-384 or P-521`,
        );
      return [alg];
    }
    case 'ed25519':
      return EDDSA_ALGORITHMS;
    default:
      throw new TypeError(`${name}: ${String(key.asymmetricKeyType)} keys are not supported; use RSA, EC or Ed25519`);
  }
}

function stringOrList(name: string, value: unknown): string | string[] {
  if (typeof value === 'string' && value.length > 0) return value;
  if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string' && v.length > 0)) {
    return [...(value as string[])];
  }
  throw new TypeError(`${name} must be a non-empty string or array of strings`);
}
