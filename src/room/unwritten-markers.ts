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
  /**
   * Stored markers as last read or written here: a member reading along costs no storage read (each
   * read was a tenth of a busy room's time in the soak). Exact while the member list has not changed
   * otherwise: a marker is stored only by `write`, or taken from D1 where it is ahead, and that
   * counts as a change (`RoomMembers.changes`), which empties this.
   */
  private readonly stored = new Map<number, number>();
  private storedAsOf: number;
  private due = false;

  constructor(
    private readonly members: RoomMembers,
    /** Replaced by tests to hold the window open. */
    public schedule: (fn: () => void, ms: number) => unknown = setTimeout,
  ) {
    this.storedAsOf = members.changes;
  }

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
    const version = this.members.nextMarkerVersion();
    for (const [userId, messageId] of this.pending) {
      this.members.markRead(userId, messageId, version);
      const known = this.stored.get(userId);
      if (known !== undefined && known < messageId) this.stored.set(userId, messageId);
    }
    this.pending.clear();
  }

  private advance(userId: number, messageId: number): boolean {
    if ((this.pending.get(userId) ?? 0) >= messageId || this.storedMarker(userId) >= messageId) return false;
    this.pending.set(userId, messageId);
    return true;
  }

  private storedMarker(userId: number): number {
    if (this.members.changes !== this.storedAsOf) {
      this.stored.clear();
      this.storedAsOf = this.members.changes;
    }
    let marker = this.stored.get(userId);
    if (marker === undefined) this.stored.set(userId, (marker = this.members.row(userId)?.lastRead ?? 0));
    return marker;
  }
}
