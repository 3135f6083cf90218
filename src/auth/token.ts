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

export async function signToken(user: User, key: Uint8Array, now = Date.now()): Promise<string> {
  const iat = Math.floor(now / 1000);
  return new SignJWT({ username: user.username })
    .setProtectedHeader({ alg: ALGORITHM, typ: "JWT" })
    .setSubject(String(user.id))
    .setIssuedAt(iat)
    .setExpirationTime(iat + TOKEN_TTL_SECONDS)
    .sign(key);
}

/**
 * The user a token names, or null for any token that is not ours and current: wrong algorithm
 * (`none` included), bad signature, missing or past `exp`, or malformed claims.
 */
export async function verifyToken(token: string, key: Uint8Array): Promise<User | null> {
  try {
    const { payload } = await jwtVerify(token, key, { algorithms: [ALGORITHM], requiredClaims: ["exp", "sub"] });
    const id = Number(payload.sub);
    const username = payload["username"];
    if (!Number.isSafeInteger(id) || id <= 0 || typeof username !== "string") return null;
    return { id, username };
  } catch {
    return null;
  }
}
