/**
 * When the room copies its log to D1. Pure, so the policy can be tested without a room or a clock.
 *
 * A copy waits COPY_DELAY_MS after the first message it carries, so a busy chat sends one D1 batch
 * for many messages (the cost and the D1 statement count scale with copies, not messages); a
 * failed copy is retried with exponential backoff and never dropped.
 */
export const COPY_DELAY_MS = 1000;
/** Rows in one copy; a longer outbox is copied in several, back to back. */
export const COPY_BATCH = 2000;
const MAX_RETRY_DELAY_MS = 60_000;

/** Delay before retry number `failures` (1, 2, …): 1 s, 2 s, 4 s, … at most a minute. */
export function retryDelay(failures: number): number {
  return Math.min(MAX_RETRY_DELAY_MS, COPY_DELAY_MS * 2 ** Math.max(0, failures - 1));
}

/** The earliest of the deadlines that are set, or null. */
export function earliest(...deadlines: (number | null)[]): number | null {
  let next: number | null = null;
  for (const d of deadlines) if (d !== null && (next === null || d < next)) next = d;
  return next;
}
