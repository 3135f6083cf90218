/**
 * What a push service's answer means for the push (RFC 8030 §8, and what push services document):
 * 2xx sent; 404 and 410 the subscription is gone for good (delete it); 429 and 5xx (and no answer at
 * all) try again later, after `Retry-After` when the service says, else after a backoff; any other
 * 4xx (a malformed push, a refused VAPID token, a payload too large) cannot succeed by retrying.
 */
export type Outcome = { kind: "sent" } | { kind: "gone" } | { kind: "retry"; afterSeconds: number } | { kind: "failed"; status: number };

/** The longest a retry may wait: Cloudflare Queues' limit on a retry's delay (12 hours). */
export const MAX_RETRY_DELAY_SECONDS = 12 * 60 * 60;
const BACKOFF_BASE_SECONDS = 5;
const BACKOFF_MAX_SECONDS = 10 * 60;

/** 5 s, 10 s, 20 s … at most 10 minutes, after the `attempts`-th failed delivery (1 for the first). */
export function backoffSeconds(attempts: number): number {
  return Math.min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** Math.max(0, attempts - 1));
}

/** `Retry-After` (RFC 9110 §10.2.3: delta-seconds or an HTTP-date) in whole seconds from `now`, or null. */
export function retryAfterSeconds(header: string | null, now: number): number | null {
  if (header === null) return null;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value);
  // An HTTP-date names its month (Date.parse would also take "-5" as a year).
  const at = /[A-Za-z]{3}/.test(value) ? Date.parse(value) : NaN;
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1000));
}

/** A retry's delay: the service's word when it gave one, else the backoff; at least 1 s, within the Queues limit. */
export function retryDelay(retryAfter: number | null, attempts: number): number {
  return Math.min(MAX_RETRY_DELAY_SECONDS, Math.max(1, retryAfter ?? backoffSeconds(attempts)));
}

/** The outcome of an answer (`status` null: no answer, the request failed or timed out). */
export function outcomeOf(status: number | null, retryAfter: string | null, attempts: number, now: number): Outcome {
  if (status !== null && status >= 200 && status < 300) return { kind: "sent" };
  if (status === 404 || status === 410) return { kind: "gone" };
  if (status === null || status === 429 || status >= 500) return { kind: "retry", afterSeconds: retryDelay(retryAfterSeconds(retryAfter, now), attempts) };
  return { kind: "failed", status };
}
