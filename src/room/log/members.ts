/**
 * Who may use the room: the member list of record for sockets, history, sends and administration,
 * with read markers. Every change takes the next number of the room's membership counter, and D1's
 * copy follows by those numbers (`toCopy` / `copied`).
 */
import { and, asc, eq, gt, isNotNull, isNull, max, or, sql } from "drizzle-orm";
import type { Member, Role, User } from "../../protocol/models";
import { MetaKey, readMeta, writeMeta, type LogDatabase } from "./open";
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
        .set({ lastRead: sql`${p("messageId")}`, markerVersion: sql`${p("version")}` })
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

  /**
   * Counts every change of who is an active member, or of a member's mute: whoever keeps a view of
   * the active members (the push notices) rebuilds it when this moved.
   */
  changes = 0;

  /** `former`: removed; `unknown`: never a member. The room's word is final: D1 is not asked. */
  access(userId: number): Access {
    let access = this.accessOf.get(userId);
    if (access === undefined) {
      const row = this.row(userId);
      access = !row ? "unknown" : row.active ? "member" : "former";
      this.accessOf.set(userId, access);
    }
    return access;
  }

  row(userId: number): LogMemberRow | undefined {
    return this.q.row.get({ userId });
  }

  /** The row of an active member, or undefined. */
  activeRow(userId: number): LogMemberRow | undefined {
    const row = this.row(userId);
    return row?.active ? row : undefined;
  }

  /**
   * A member as D1 had them when the room first loaded (or reconciled): D1 already has this state,
   * so it is not copied back. A marker only grows: D1's value is taken where it is ahead.
   */
  importFromD1(member: Member, lastRead: number | null, joinedAt: number): void {
    this.accessOf.delete(member.id);
    this.changes++;
    this.db
      .insert(logMembers)
      .values({ userId: member.id, username: member.username, role: member.role, active: true, lastRead, joinedAt })
      .onConflictDoUpdate({
        target: logMembers.userId,
        set: {
          role: member.role,
          active: true,
          joinedAt,
          // The larger of the two; SQLite's max() is NULL when either is, and "never read" stays NULL.
          lastRead: sql`coalesce(max(${logMembers.lastRead}, excluded.last_read), ${logMembers.lastRead}, excluded.last_read)`,
        },
      })
      .run();
  }

  /** Joins (or re-joins) as a plain, unmuted member; a former member keeps the marker they had. */
  join(user: User, joinedAt: number, version: number): void {
    this.accessOf.delete(user.id);
    this.changes++;
    this.db
      .insert(logMembers)
      .values({ userId: user.id, username: user.username, role: "member", active: true, lastRead: null, joinedAt, version })
      .onConflictDoUpdate({ target: logMembers.userId, set: { role: "member", active: true, joinedAt, version, muted: false } })
      .run();
  }

  setRole(userId: number, role: Role, version: number): void {
    this.db.update(logMembers).set({ role, version }).where(eq(logMembers.userId, userId)).run();
  }

  /** Keeps the row, inactive: the removal is a fact the room remembers, and D1's copy follows it. */
  leave(user: User, version: number): void {
    this.accessOf.delete(user.id);
    this.changes++;
    this.db
      .insert(logMembers)
      .values({ userId: user.id, username: user.username, role: "member", active: false, lastRead: null, version })
      .onConflictDoUpdate({ target: logMembers.userId, set: { active: false, role: "member", version } })
      .run();
  }

  /** Mutes or unmutes the chat for an active member (no push for its messages); false for anyone else. */
  setMuted(userId: number, muted: boolean): boolean {
    this.changes++;
    const rows = this.db.update(logMembers).set({ muted }).where(and(eq(logMembers.userId, userId), eq(logMembers.active, true))).returning({ userId: logMembers.userId }).all();
    return rows.length > 0;
  }

  /** Marks a row as changed without changing it, so the next copy writes its state to D1 again. */
  touch(userId: number, version: number): void {
    this.db.update(logMembers).set({ version }).where(eq(logMembers.userId, userId)).run();
  }

  activeAdmins(): number {
    return this.db.select({ n: sql<number>`count(*)` }).from(logMembers).where(and(eq(logMembers.active, true), eq(logMembers.role, "admin"))).get()?.n ?? 0;
  }

  /** The longest-standing active member (earliest to join, then lowest id): who inherits admin. */
  longestStanding(): LogMemberRow | undefined {
    return this.db.select().from(logMembers).where(eq(logMembers.active, true)).orderBy(asc(logMembers.joinedAt), asc(logMembers.userId)).limit(1).get();
  }

  /** How many members are active (counted again only after `changes` moved). */
  activeCount(): number {
    if (this.countedAt !== this.changes) {
      this.count = this.db.select({ n: sql<number>`count(*)` }).from(logMembers).where(eq(logMembers.active, true)).get()?.n ?? 0;
      this.countedAt = this.changes;
    }
    return this.count;
  }
  private count = 0;
  private countedAt = -1;

  /** The active members, longest-standing first (the chat object's order). */
  active(): LogMemberRow[] {
    return this.db.select().from(logMembers).where(eq(logMembers.active, true)).orderBy(asc(logMembers.joinedAt), asc(logMembers.userId)).all();
  }

  /** Every row, for reconciling with D1 once. */
  all(): LogMemberRow[] {
    return this.db.select().from(logMembers).all();
  }

  /** Rows whose join, leave or role D1 does not have yet. */
  toCopy(): LogMemberRow[] {
    return this.db.select().from(logMembers).where(sql`${logMembers.version} > ${logMembers.versionInD1}`).all();
  }

  /** After a copy: D1 has each row as it was at `version` (a row changed since is copied again). */
  copied(rows: readonly { userId: number; version: number }[]): void {
    for (const { userId, version } of rows) {
      this.db
        .update(logMembers)
        .set({ versionInD1: sql`max(${logMembers.versionInD1}, ${version})` })
        .where(eq(logMembers.userId, userId))
        .run();
    }
  }

  /** The newest marker version given out (members.marker_version); read once. */
  private markerVersion: number | undefined;

  /**
   * The version the next marker writes take: one per write of a window's markers (one
   * transaction), past every version stored.
   */
  nextMarkerVersion(): number {
    this.markerVersion ??= this.db.select({ v: max(logMembers.markerVersion) }).from(logMembers).get()?.v ?? 0;
    return ++this.markerVersion;
  }

  /** Moves a marker forward, as of `version` (nextMarkerVersion); false when it was already there or past it. */
  markRead(userId: number, messageId: number, version: number): boolean {
    return this.q.markRead.all({ userId, messageId, version }).length > 0;
  }

  /** Markers D1 does not have yet, and the version they are all at or under. */
  markersToCopy(): { markers: { userId: number; lastRead: number }[]; through: number } {
    const rows = this.db
      .select({ userId: logMembers.userId, lastRead: logMembers.lastRead, version: logMembers.markerVersion })
      .from(logMembers)
      .where(and(gt(logMembers.markerVersion, readMeta(this.db, MetaKey.MarkersCopiedThrough) ?? 0), isNotNull(logMembers.lastRead)))
      .all();
    // A loop, not Math.max(...rows): a large chat's rows would overflow the call's arguments.
    const through = rows.reduce((v, r) => Math.max(v, r.version), 0);
    return { markers: rows.map((r) => ({ userId: r.userId, lastRead: r.lastRead! })), through };
  }

  /** D1 has every marker up to version `through`: one meta row, whatever the number of markers. */
  markersCopied(through: number): void {
    if (through > (readMeta(this.db, MetaKey.MarkersCopiedThrough) ?? 0)) writeMeta(this.db, MetaKey.MarkersCopiedThrough, through);
  }
}
