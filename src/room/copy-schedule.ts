/**
 * When the room copies its log to D1. Pure, so the policy can be tested without a room or a clock.
 *
 * A copy waits until the chat has paused (COPY_QUIET_MS without a message or a moved read marker),
 * so a burst goes to D1 in one batch shortly after it ends; a chat that never pauses is copied at
 * the latest COPY_MAX_DELAY_MS after the oldest change the copy carries. D1 statements and the
 * room's per-copy bookkeeping scale with copies, so a busy chat pays them once per burst or per
 * COPY_MAX_DELAY_MS, not once a second (docs/PERFORMANCE.md, "The cost of a message"). A failed copy
 * is retried with exponential backoff and never dropped.
 */
export const COPY_QUIET_MS = 1000;
/** How far D1 may fall behind a chat that never pauses: the contract's bound (docs/PROTOCOL.md). */
export const COPY_MAX_DELAY_MS = 30_000;
/** Rows in one copy; an outbox this long is copied at once, and a longer one in several, back to back. */
export const COPY_BATCH = 2000;
const RETRY_BASE_MS = 1000;
const MAX_RETRY_DELAY_MS = 60_000;

/** What the room has not copied yet, as times (ms). */
export interface Outbox {
  /** The oldest change not in D1. */
  since: number;
  /** The newest change (a message stored, a marker moved). */
  lastChange: number;
  /** Messages stored since the last copy started. */
  messages: number;
  /**
   * Whether the room has yet to learn who has an inbox open and could not read it on its own
   * (D1Copy.learn failed): each copy tells it, and until then its messages reach no inbox, so the
   * first copy after a wake-up does not wait for a pause.
   */
  learnInboxes?: boolean;
  /** The last copy left a full batch or more behind: the next is due at once, busy chat or not. */
  backlog?: boolean;
}

export type CopyCheck = { due: true } | { due: false; checkAt: number };

/**
 * Whether a copy is due at `now`. While the chat is still busy the next look is when it could have
 * gone quiet, but no sooner than the outbox's age again: a chat that keeps going costs a handful of
 * alarms per copy (at 1, 2, 4, 8, 16 s …), not one a second, and a copy comes at most about as long
 * after a burst ends as the burst lasted (and never later than COPY_MAX_DELAY_MS).
 */
export function copyCheck(outbox: Outbox, now: number): CopyCheck {
  const quietAt = outbox.learnInboxes ? outbox.since + COPY_QUIET_MS : outbox.lastChange + COPY_QUIET_MS;
  const latest = outbox.since + COPY_MAX_DELAY_MS;
  if (outbox.backlog || outbox.messages >= COPY_BATCH || now >= Math.min(quietAt, latest)) return { due: true };
  return { due: false, checkAt: Math.min(latest, Math.max(quietAt, now + (now - outbox.since))) };
}

/** Delay before retry number `failures` (1, 2, …): 1 s, 2 s, 4 s, … at most a minute. */
export function retryDelay(failures: number): number {
  return Math.min(MAX_RETRY_DELAY_MS, RETRY_BASE_MS * 2 ** Math.max(0, failures - 1));
}

/** A task the alarm retries (the copy to D1, file deletion): its failures in a row and its next try. */
export interface Retry {
  failures: number;
  at: number;
}

/** The retry after one more failure at `now`; a success sets `failures` back to 0. */
export function nextRetry(failures: number, now: number): Retry {
  return { failures: failures + 1, at: now + retryDelay(failures + 1) };
}

/** The earliest of the deadlines that are set, or null. */
export function earliest(...deadlines: (number | null)[]): number | null {
  let next: number | null = null;
  for (const d of deadlines) if (d !== null && (next === null || d < next)) next = d;
  return next;
}
