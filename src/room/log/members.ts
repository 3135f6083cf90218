/** Who may use the room: the member list of record for sockets, history and sends, with read markers. */
import { and, eq, gt, isNull, or, sql } from "drizzle-orm";
import type { Member, Role, User } from "../../protocol/models";
import type { LogDatabase } from "./open";
import { logMembers, type LogMemberRow } from "./schema";

export type Access = "member" | "former" | "unknown";

const p = sql.placeholder;

export class RoomMembers {
  /** Prepared once: these run on every frame and every send. */
  private readonly q;

  constructor(private readonly db: LogDatabase) {
    this.q = {
      row: db.select().from(logMembers).where(eq(logMembers.userId, p("userId"))).prepare(),
      markRead: db
        .update(logMembers)
        .set({ lastRead: sql`${p("messageId")}` })
        .where(and(eq(logMembers.userId, p("userId")), or(isNull(logMembers.lastRead), sql`${logMembers.lastRead} < ${p("messageId")}`)))
        .returning({ userId: logMembers.userId })
        .prepare(),
    };
  }

  /**
   * Who may use the room, checked on every frame: kept in memory once read (every change goes
   * through this class, which forgets the user's entry), so a frame costs no storage read.
   */
  private readonly accessOf = new Map<number, Access>();

  /** `former`: removed (the room knows it); `unknown`: never seen (D1 may know more). */
  access(userId: number): Access {
    let access = this.accessOf.get(userId);
    if (access === undefined) {
      const row = this.row(userId);
      access = !row ? "unknown" : row.active ? "member" : "former";
      if (access !== "unknown") this.accessOf.set(userId, access);
    }
    return access;
  }

  row(userId: number): LogMemberRow | undefined {
    return this.q.row.get({ userId });
  }

  /**
   * Adds or updates a member as D1 has them. A marker only grows: D1's value is taken where it is
   * ahead (an import, or a read over HTTP before this room existed).
   */
  upsert(member: Member, lastRead: number | null = null): void {
    this.accessOf.delete(member.id);
    this.db
      .insert(logMembers)
      .values({ userId: member.id, username: member.username, role: member.role, active: true, lastRead, lastReadInD1: lastRead })
      .onConflictDoUpdate({
        target: logMembers.userId,
        set: {
          role: member.role,
          active: true,
          // The larger of the two; SQLite's max() is NULL when either is, and "never read" stays NULL.
          lastRead: sql`coalesce(max(${logMembers.lastRead}, excluded.last_read), ${logMembers.lastRead}, excluded.last_read)`,
        },
      })
      .run();
  }

  /** Keeps the row, inactive, so the removal outlives a D1 that still lists them. */
  remove(user: User): void {
    this.accessOf.delete(user.id);
    this.db
      .insert(logMembers)
      .values({ userId: user.id, username: user.username, role: "member", active: false, lastRead: null, lastReadInD1: null })
      .onConflictDoUpdate({ target: logMembers.userId, set: { active: false } })
      .run();
  }

  /** Moves a marker forward; false when it was already there or past it. */
  markRead(userId: number, messageId: number): boolean {
    return this.q.markRead.all({ userId, messageId }).length > 0;
  }

  /** Markers D1 does not have yet. */
  markersToCopy(): { userId: number; lastRead: number }[] {
    return this.db
      .select({ userId: logMembers.userId, lastRead: logMembers.lastRead })
      .from(logMembers)
      .where(and(gt(logMembers.lastRead, sql`coalesce(${logMembers.lastReadInD1}, 0)`)))
      .all()
      .map((r) => ({ userId: r.userId, lastRead: r.lastRead! }));
  }

  markersCopied(markers: { userId: number; lastRead: number }[]): void {
    for (const { userId, lastRead } of markers) {
      this.db
        .update(logMembers)
        .set({ lastReadInD1: sql`max(coalesce(${logMembers.lastReadInD1}, 0), ${lastRead})` })
        .where(eq(logMembers.userId, userId))
        .run();
    }
  }
}
