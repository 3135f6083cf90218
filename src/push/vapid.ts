/**
 * VAPID (RFC 8292): each push carries `Authorization: vapid t=<JWT>, k=<public key>`, the JWT signed
 * ES256 with the deployment's private key, `aud` the endpoint's origin, `exp` within 24 hours and
 * `sub` the contact. Signed with jose; the push library's own VAPID helper refuses http: endpoints,
 * which the tests' loopback push services are.
 */
import { importJWK, SignJWT, type CryptoKey } from "jose";
import { base64url, fromBase64url } from "../auth/base64url";
import type { VapidKeys } from "./config";

/** How long a token is valid: under RFC 8292's 24 hours, and long enough to be reused. */
export const VAPID_TOKEN_TTL_SECONDS = 12 * 60 * 60;
/** A token is signed again once it has less than this left. */
const RENEW_BEFORE_SECONDS = 60 * 60;

/** Keys compare by value: each request reads them from its env afresh. */
const sameKeys = (a: VapidKeys, b: VapidKeys) => a.publicKey === b.publicKey && a.privateKey === b.privateKey && a.subject === b.subject;

let imported: { keys: VapidKeys; key: Promise<CryptoKey> } | null = null;
/** Per origin, the token last signed for it (a push service is a handful of origins). */
const tokens = new Map<string, { keys: VapidKeys; token: string; exp: number }>();

/** The private key as WebCrypto takes it (a JWK of the point's coordinates and the scalar), imported once. */
function signingKey(keys: VapidKeys): Promise<CryptoKey> {
  if (!imported || !sameKeys(imported.keys, keys)) {
    const point = fromBase64url(keys.publicKey);
    const jwk = { kty: "EC", crv: "P-256", x: base64url(point.subarray(1, 33)), y: base64url(point.subarray(33, 65)), d: keys.privateKey };
    imported = { keys, key: importJWK(jwk, "ES256") as Promise<CryptoKey> };
  }
  return imported.key;
}

/** The `Authorization` header for a push to `endpoint`. */
export async function vapidAuthorization(keys: VapidKeys, endpoint: string, nowSeconds = Math.floor(Date.now() / 1000)): Promise<string> {
  const audience = new URL(endpoint).origin;
  let entry = tokens.get(audience);
  if (!entry || !sameKeys(entry.keys, keys) || entry.exp - nowSeconds < RENEW_BEFORE_SECONDS) {
    const exp = nowSeconds + VAPID_TOKEN_TTL_SECONDS;
    const token = await new SignJWT({ sub: keys.subject })
      .setProtectedHeader({ typ: "JWT", alg: "ES256" })
      .setAudience(audience)
      .setExpirationTime(exp)
      .sign(await signingKey(keys));
    tokens.set(audience, (entry = { keys, token, exp }));
  }
  return `vapid t=${entry.token}, k=${keys.publicKey}`;
}
