/**
 * The chat's uploads as its room records them (the bytes are in R2 under the same id): who uploaded
 * what, whether a message attached it, and which files are due for deletion. Synchronous like the
 * log, so a send checks and attaches its uploads in the same write as the message.
 */
import { and, asc, eq, inArray, isNull, lte, or, sql } from "drizzle-orm";
import type { StoredAttachment } from "../../protocol/stored";
import { limits } from "../../protocol/limits";
import type { LogDatabase } from "./open";
import { logAttachments, type LogAttachmentRow } from "./schema";

/** Files per deletion round: R2 deletes up to 1,000 keys in one call. */
export const PURGE_BATCH = 1000;

const p = sql.placeholder;

export const toStored = ({ id, name, size, contentType }: LogAttachmentRow): StoredAttachment => ({ id, name, size, contentType });

export class Uploads {
  private readonly q;

  private readonly unattachedTtlMs = limits.unattachedUploadTtlMs;

  constructor(private readonly db: LogDatabase) {
    this.q = {
      byId: db.select().from(logAttachments).where(eq(logAttachments.id, p("id"))).prepare(),
      oldestUnattached: db
        .select({ createdAt: logAttachments.createdAt })
        .from(logAttachments)
        .where(isNull(logAttachments.messageId))
        .orderBy(asc(logAttachments.createdAt))
        .limit(1)
        .prepare(),
      anyRemoving: db.select({ id: logAttachments.id }).from(logAttachments).where(eq(logAttachments.removing, true)).limit(1).prepare(),
    };
  }

  record(row: Omit<LogAttachmentRow, "messageId" | "removing">): void {
    this.db.insert(logAttachments).values(row).run();
  }

  /** An upload that can still be downloaded or attached: not being deleted, not expired unattached. */
  live(id: string, now: number): LogAttachmentRow | null {
    const row = this.q.byId.get({ id });
    if (!row || row.removing) return null;
    if (row.messageId === null && row.createdAt + this.unattachedTtlMs <= now) return null;
    return row;
  }

  /**
   * The uploads `ids` names, in that order, if every one is `senderId`'s own, live and unattached;
   * otherwise why not. The caller attaches them in the same turn (`attach`).
   */
  claimable(ids: readonly string[], senderId: number, now: number): { ok: true; attachments: StoredAttachment[] } | { ok: false; error: string } {
    const attachments: StoredAttachment[] = [];
    for (const id of ids) {
      const row = this.live(id, now);
      // One answer for unknown, someone else's and expired: an id reveals nothing about others' uploads.
      if (!row || row.uploaderId !== senderId) return { ok: false, error: `attachment ${id} is not an upload of yours in this chat` };
      if (row.messageId !== null) return { ok: false, error: `attachment ${id} is already attached to a message` };
      attachments.push(toStored(row));
    }
    return { ok: true, attachments };
  }

  attach(ids: readonly string[], messageId: number): void {
    if (ids.length > 0) this.db.update(logAttachments).set({ messageId }).where(inArray(logAttachments.id, [...ids])).run();
  }

  /** A deleted message's files: no longer served, deleted from R2 by the alarm. Returns how many. */
  markRemoving(messageId: number): number {
    return this.db.update(logAttachments).set({ removing: true }).where(eq(logAttachments.messageId, messageId)).returning({ id: logAttachments.id }).all().length;
  }

  /** Files to delete now: those of deleted messages, and uploads never attached in time. */
  due(now: number, limit = PURGE_BATCH): string[] {
    return this.db
      .select({ id: logAttachments.id })
      .from(logAttachments)
      .where(or(eq(logAttachments.removing, true), and(isNull(logAttachments.messageId), lte(logAttachments.createdAt, now - this.unattachedTtlMs))))
      .limit(limit)
      .all()
      .map((r) => r.id);
  }

  /** After R2 deleted them. */
  forget(ids: readonly string[]): void {
    // DO SQL binds at most 100 parameters per statement.
    for (let i = 0; i < ids.length; i += 90) this.db.delete(logAttachments).where(inArray(logAttachments.id, ids.slice(i, i + 90))).run();
  }

  /** When the alarm next has files to delete: now if any wait, else when the oldest upload expires; null for never. */
  nextDeadline(now: number): number | null {
    if (this.q.anyRemoving.get()) return now;
    const oldest = this.q.oldestUnattached.get();
    return oldest ? oldest.createdAt + this.unattachedTtlMs : null;
  }
}
