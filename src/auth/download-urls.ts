/**
 * Short-lived signed download URLs, for `<img src>` and links: a browser cannot add the token header
 * there, and the long-lived JWT must never sit in a URL (history, logs, Referer). A URL is bound to
 * one attachment, one user, the token version of the session that asked for it, and an expiry a few
 * minutes ahead. The download checks that version against the user's current one as a token is
 * checked (so logout and a password change end the URL with the session), and asks the chat's room
 * whether that user is a member at that moment, so a removal takes effect at once.
 *
 * The HMAC key is derived from the JWT secret for this one purpose, so a download signature can never
 * be mistaken for (or turned into) anything else signed with the secret.
 */
import { limits } from "../protocol/limits";
import { attachmentPath } from "../protocol/models";
import { base64url, fromBase64url } from "./base64url";
import { purposeKey } from "./purpose-keys";

const encoder = new TextEncoder();
// v2: the token version is signed too (URLs of v1 stop verifying, as they should: they carried none).
const PURPOSE = "edge-chat attachment download v2";

/** The download key for a signing secret, derived once per isolate. */
const downloadKey = (secret: Uint8Array) => purposeKey(secret, PURPOSE);

/** Who a signed URL is for: the user and the token version of the session that signed it. */
export interface DownloadSigner {
  userId: number;
  version: number;
}

const message = (id: string, { userId, version }: DownloadSigner, expires: number) => encoder.encode(`${id}\n${userId}\n${version}\n${expires}`);

export interface SignedDownload {
  /** Path and query, relative to the API's origin. */
  url: string;
  /** ISO 8601. */
  expiresAt: string;
}

/**
 * A URL that lets `signer.userId` download attachment `id` (if still a member, and while the session
 * of `signer.version` lasts) until a few minutes from `now`.
 */
export async function signDownload(secret: Uint8Array, id: string, signer: DownloadSigner, now = Date.now()): Promise<SignedDownload> {
  const expires = Math.floor(now / 1000) + limits.attachmentUrlTtlSeconds;
  const sig = base64url(await crypto.subtle.sign("HMAC", await downloadKey(secret), message(id, signer, expires)));
  const query = new URLSearchParams({ user: String(signer.userId), ver: String(signer.version), expires: String(expires), sig });
  return { url: `${attachmentPath(id)}?${query}`, expiresAt: new Date(expires * 1000).toISOString() };
}

/**
 * Whether the signature is ours for this attachment, user, token version and expiry, and the expiry
 * has not passed. Whether that version is still the user's is the caller's check (it needs D1).
 */
export async function verifyDownload(secret: Uint8Array, id: string, signer: DownloadSigner, expires: number, sig: string, now = Date.now()): Promise<boolean> {
  const nowSeconds = Math.floor(now / 1000);
  // Also refuse expiries further ahead than we ever sign: a leaked old secret cannot mint long-lived URLs unnoticed.
  if (expires < nowSeconds || expires > nowSeconds + limits.attachmentUrlTtlSeconds + 60) return false;
  // Constant-time comparison, by the runtime.
  return crypto.subtle.verify("HMAC", await downloadKey(secret), fromBase64url(sig), message(id, signer, expires));
}
