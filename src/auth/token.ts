/** JWT issue and verification (HS256, jose). */
import { SignJWT, jwtVerify } from "jose";
import type { User } from "../protocol/models";

const ALGORITHM = "HS256";
export const TOKEN_TTL_SECONDS = 24 * 60 * 60;
const MIN_SECRET_BYTES = 32;
const encoder = new TextEncoder();

/** Thrown at start-up when the signing secret is missing or too short to be safe. */
export class ConfigError extends Error {}

export function secretKey(secret: string | undefined): Uint8Array {
  const bytes = encoder.encode(secret ?? "");
  if (bytes.length < MIN_SECRET_BYTES) {
    throw new ConfigError(
      `JWT_SECRET must be set to at least ${MIN_SECRET_BYTES} bytes (use \`wrangler secret put JWT_SECRET\`, or .dev.vars locally)`,
    );
  }
  return bytes;
}

let cachedKey: { secret: string; key: Uint8Array } | undefined;

/** The signing key for `secret`, checked and encoded once per isolate (Worker and objects alike). */
export function signingKeyFor(secret: string | undefined): Uint8Array {
  if (cachedKey === undefined || cachedKey.secret !== secret) cachedKey = { secret: secret ?? "", key: secretKey(secret) };
  return cachedKey.key;
}

/**
 * The HMAC key jose would otherwise import from the raw bytes on every verification (a WebCrypto
 * import per request and per connect); imported once per key per isolate instead.
 */
const verifyKeys = new WeakMap<Uint8Array, Promise<CryptoKey>>();

export function verifyKeyFor(key: Uint8Array): Promise<CryptoKey> {
  let imported = verifyKeys.get(key);
  if (!imported) {
    imported = crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    verifyKeys.set(key, imported);
  }
  return imported;
}

/** What a valid token says: who, and under which token version of that user it was issued. */
export interface TokenClaims {
  user: User;
  version: number;
  /** When the token stops being valid, in ms since the epoch (from `exp`). */
  expiresAt: number;
}

/**
 * The token lifetime the `TOKEN_TTL_SECONDS` var asks for. Anything but a positive integer falls back
 * to the default rather than failing: a typo in a var must not sign tokens that never expire, nor
 * stop logins.
 */
export function tokenTtlSeconds(configured: string | undefined): number {
  const seconds = /^[1-9][0-9]*$/.test(configured ?? "") ? Number(configured) : NaN;
  return Number.isSafeInteger(seconds) ? seconds : TOKEN_TTL_SECONDS;
}

export async function signToken(user: User, version: number, key: Uint8Array, ttlSeconds = TOKEN_TTL_SECONDS, now = Date.now()): Promise<string> {
  const iat = Math.floor(now / 1000);
  return new SignJWT({ username: user.username, ver: version })
    .setProtectedHeader({ alg: ALGORITHM, typ: "JWT" })
    .setSubject(String(user.id))
    .setIssuedAt(iat)
    .setExpirationTime(iat + ttlSeconds)
    .sign(key);
}

/**
 * Tokens this isolate verified, per key. A client sends the same token with every request and
 * connect for as long as it lives, and verifying it again (jose's parsing and an HMAC) was about a
 * tenth of the Worker's time per connect (docs/PERFORMANCE.md). The token string is the credential:
 * once its signature and claims checked out, the same string checks out until it expires, which is
 * checked on every use. Whether its version is still the user's is the caller's check, every time.
 */
const VERIFIED_TOKENS_PER_KEY = 1000;
const verifiedTokens = new WeakMap<Uint8Array, Map<string, TokenClaims>>();

/** As jose decides it: a token is expired once the current whole second reaches its `exp`. */
const expired = (claims: TokenClaims, now: number) => claims.expiresAt <= Math.floor(now / 1000) * 1000;

/**
 * The claims of a token, or null for any token that is not ours and current: wrong algorithm
 * (`none` included), bad signature, missing or past `exp`, or malformed claims. Whether its
 * version is still the user's is the caller's check (it needs the database).
 */
export async function verifyToken(token: string, key: Uint8Array, now = Date.now()): Promise<TokenClaims | null> {
  let known = verifiedTokens.get(key);
  if (!known) verifiedTokens.set(key, (known = new Map()));
  const seen = known.get(token);
  if (seen) {
    if (!expired(seen, now)) return { ...seen, user: { ...seen.user } };
    known.delete(token);
    return null;
  }
  const claims = await verifyWithJose(token, key, now);
  if (claims) {
    // The oldest entry makes room (a Map iterates in insertion order).
    if (known.size >= VERIFIED_TOKENS_PER_KEY) known.delete(known.keys().next().value!);
    known.set(token, { ...claims, user: { ...claims.user } });
  }
  return claims;
}

async function verifyWithJose(token: string, key: Uint8Array, now: number): Promise<TokenClaims | null> {
  try {
    const { payload } = await jwtVerify(token, await verifyKeyFor(key), { algorithms: [ALGORITHM], requiredClaims: ["exp", "sub"], currentDate: new Date(now) });
    const id = Number(payload.sub);
    const username = payload["username"];
    const version = payload["ver"] ?? 0;
    if (!Number.isSafeInteger(id) || id <= 0 || typeof username !== "string" || !Number.isSafeInteger(version)) return null;
    return { user: { id, username }, version: version as number, expiresAt: payload.exp! * 1000 };
  } catch {
    return null;
  }
}
