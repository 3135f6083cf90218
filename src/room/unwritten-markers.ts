/**
 * Read markers that moved and are not in storage yet. In a chat its members have open, every
 * member's marker moves with nearly every message: written one by one, markers cost more storage rows
 * than the messages (docs/PERFORMANCE.md, "Read receipts"). So a moved marker is kept here, answered
 * from here (the reader's own view is current at once) and written at most once per member per
 * window, all in one transaction, or sooner when the copy to D1 starts (it reads markers from
 * storage).
 *
 * What this costs (docs/DECISIONS.md, "Read markers written once per window"): a crash or a deploy
 * loses at most one window of marker moves. A sender's own markers are rebuilt from the log on wake
 * (D1Copy); a reader's marker is moved again by their client the next time it shows the chat.
 * A pending write keeps a timer, and a timer keeps the object from hibernating before it is written.
 */
import type { RoomMembers } from "./log/members";
import type { LogMemberRow } from "./log/schema";

/**
 * How long a moved marker may wait in memory. Long enough that a member reading along writes one
 * row per window instead of one per message, short enough that little is lost to a crash.
 */
export const MARKER_WRITE_WINDOW_MS = 5000;

export class UnwrittenMarkers {
  private readonly pending = new Map<number, number>();
  private due = false;

  constructor(
    private readonly members: RoomMembers,
    /** Replaced by tests to hold the window open. */
    public schedule: (fn: () => void, ms: number) => unknown = setTimeout,
  ) {}

  get size(): number {
    return this.pending.size;
  }

  /** A member's marker as it is now: the stored one, or the unwritten one where that is further on. */
  markerOf(row: Pick<LogMemberRow, "userId" | "lastRead">): number | null {
    const unwritten = this.pending.get(row.userId);
    return unwritten !== undefined && unwritten > (row.lastRead ?? 0) ? unwritten : row.lastRead;
  }

  /**
   * `userId` read up to `messageId`. Markers move forward only: true when this moved it (past the
   * stored marker and any unwritten one), written by the end of the window.
   */
  read(userId: number, messageId: number): boolean {
    if (!this.advance(userId, messageId)) return false;
    if (!this.due) {
      this.due = true;
      this.schedule(() => this.write(), MARKER_WRITE_WINDOW_MS);
    }
    return true;
  }

  /**
   * A user's own message counts as read by them. No timer: the log holds the message, so the marker
   * is rebuilt on wake if it was not written (D1Copy writes these when its copy starts). The stored
   * marker is not read: one behind it changes nothing, since `markerOf` and the write both keep the
   * larger (a storage read per message was an eighth of the room's busy time in the write bench).
   */
  sent(userId: number, messageId: number): void {
    if ((this.pending.get(userId) ?? 0) < messageId) this.pending.set(userId, messageId);
  }

  /** Writes every unwritten marker, one row each (a timer's writes are one implicit transaction). */
  write(): void {
    this.due = false;
    if (this.pending.size === 0) return;
    for (const [userId, messageId] of this.pending) this.members.markRead(userId, messageId);
    this.pending.clear();
  }

  private advance(userId: number, messageId: number): boolean {
    const row = this.members.row(userId);
    if ((this.markerOf({ userId, lastRead: row?.lastRead ?? null }) ?? 0) >= messageId) return false;
    this.pending.set(userId, messageId);
    return true;
  }
}
