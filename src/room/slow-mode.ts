/**
 * A group's slow mode: a member (admins exempt; the room asks) who sent within the last
 * `slowModeSeconds` waits. Checked when a message is stored, like membership, so a burst of frames
 * that arrived together still stores one. The last send of each member is kept in memory: every
 * stored message updates it, and after a wake it is read once from the log's newest rows (back to
 * the period's start), so a send costs no storage row.
 */

/** Reads the log newest first: the senders of messages stored at or after `since` (ms) and when. */
export type RecentSends = (since: number) => Iterable<{ senderId: number; createdAt: number }>;

/** Members whose last send is remembered at most, before those older than any period are forgotten. */
const REMEMBERED_MAX = 10_000;
const PERIOD_MAX_MS = 3600_000;

export class SlowMode {
  private readonly lastSent = new Map<number, number>();
  /** How far back (ms before the wake) memory is complete: 0 until the log was read. */
  private coveredMs = 0;

  constructor(private readonly recentSends: RecentSends) {}

  /** Milliseconds `userId` must still wait under a period of `periodSeconds` (0: may send now). */
  wait(userId: number, periodSeconds: number, now: number): number {
    if (periodSeconds <= 0) return 0;
    const periodMs = periodSeconds * 1000;
    if (this.coveredMs < periodMs) {
      for (const { senderId, createdAt } of this.recentSends(now - periodMs)) this.sent(senderId, createdAt);
      this.coveredMs = periodMs;
    }
    const last = this.lastSent.get(userId);
    return last === undefined ? 0 : Math.max(0, last + periodMs - now);
  }

  /** A message of `userId`'s was stored at `at`. */
  sent(userId: number, at: number): void {
    if ((this.lastSent.get(userId) ?? -Infinity) < at) this.lastSent.set(userId, at);
    if (this.lastSent.size > REMEMBERED_MAX) {
      for (const [id, t] of this.lastSent) if (t < at - PERIOD_MAX_MS) this.lastSent.delete(id);
    }
  }
}
