/**
 * Short-lived signed download URLs, for `<img src>` and links: a browser cannot add the token header
 * there, and the long-lived JWT must never sit in a URL (history, logs, Referer). A URL is bound to
 * one attachment, one user and an expiry a few minutes ahead; the download still asks the chat's room
 * whether that user is a member at that moment, so a removal takes effect at once.
 *
 * The HMAC key is derived from the JWT secret for this one purpose, so a download signature can never
 * be mistaken for (or turned into) anything else signed with the secret.
 */
import { limits } from "../protocol/limits";
import { attachmentPath } from "../protocol/models";
import { base64url, fromBase64url } from "./base64url";

const encoder = new TextEncoder();
const PURPOSE = "edge-chat attachment download v1";

const keys = new WeakMap<Uint8Array, Promise<CryptoKey>>();

function hmac(raw: Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
}

/** The download key for a signing secret, derived once per isolate. */
function downloadKey(secret: Uint8Array): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    key = hmac(secret)
      .then((root) => crypto.subtle.sign("HMAC", root, encoder.encode(PURPOSE)))
      .then((derived) => hmac(new Uint8Array(derived)));
    keys.set(secret, key);
  }
  return key;
}

const message = (id: string, userId: number, expires: number) => encoder.encode(`${id}\n${userId}\n${expires}`);

export interface SignedDownload {
  /** Path and query, relative to the API's origin. */
  url: string;
  /** ISO 8601. */
  expiresAt: string;
}

/** A URL that lets `userId` download attachment `id` (if still a member) until a few minutes from `now`. */
export async function signDownload(secret: Uint8Array, id: string, userId: number, now = Date.now()): Promise<SignedDownload> {
  const expires = Math.floor(now / 1000) + limits.attachmentUrlTtlSeconds;
  const sig = base64url(await crypto.subtle.sign("HMAC", await downloadKey(secret), message(id, userId, expires)));
  const query = new URLSearchParams({ user: String(userId), expires: String(expires), sig });
  return { url: `${attachmentPath(id)}?${query}`, expiresAt: new Date(expires * 1000).toISOString() };
}

/** Whether the signature is ours for this attachment, user and expiry, and the expiry has not passed. */
export async function verifyDownload(secret: Uint8Array, id: string, userId: number, expires: number, sig: string, now = Date.now()): Promise<boolean> {
  const nowSeconds = Math.floor(now / 1000);
  // Also refuse expiries further ahead than we ever sign: a leaked old secret cannot mint long-lived URLs unnoticed.
  if (expires < nowSeconds || expires > nowSeconds + limits.attachmentUrlTtlSeconds + 60) return false;
  // Constant-time comparison, by the runtime.
  return crypto.subtle.verify("HMAC", await downloadKey(secret), fromBase64url(sig), message(id, userId, expires));
}
