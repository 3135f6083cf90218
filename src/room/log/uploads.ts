/**
 * The chat's uploads as its room records them (the bytes are in R2 under the same id): who uploaded
 * what, whether a message attached it, and which files are due for deletion. Synchronous like the
 * log, so a send checks and attaches its uploads in the same write as the message.
 */
import { and, asc, desc, eq, gt, inArray, isNull, lte, min, or, sql, sum } from "drizzle-orm";
import type { StoredAttachment } from "../../protocol/stored";
import { ErrorCode } from "../../protocol/errors";
import { limits } from "../../protocol/limits";
import { refuse, type Refusal } from "../../objects/answers";
import type { LogDatabase } from "./open";
import { logAttachments, type LogAttachmentRow } from "./schema";

/** Files per deletion round: R2 deletes up to 1,000 keys in one call. */
export const PURGE_BATCH = 1000;

/** The rate window of uploads. */
const RATE_WINDOW_MS = 60_000;
/**
 * Uploads of the chat (anyone's, newest first) the rate check reads at most: the attachments table
 * has no index on time for attached files, and its rows are in upload order (rowid), so the check
 * reads the newest rows and stops. More uploads than this in a chat within a minute are counted as
 * far as this reaches (the 10 MiB per-file limit and the quota still bound what they can hold).
 */
const RATE_SCAN_ROWS = 1000;

/** The per-user upload limits a deployment sets (README "Configuration"); anything but a positive integer is the default. */
export interface UploadLimitsEnv {
  UPLOAD_RATE_PER_MINUTE?: string;
  UPLOAD_QUOTA_BYTES?: string;
}

const positive = (configured: string | undefined, fallback: number) => {
  const n = /^[1-9][0-9]{0,15}$/.test(configured ?? "") ? Number(configured) : NaN;
  return Number.isSafeInteger(n) ? n : fallback;
};

export function uploadLimits(env: UploadLimitsEnv): { perMinute: number; quotaBytes: number } {
  return {
    perMinute: positive(env.UPLOAD_RATE_PER_MINUTE, limits.uploadRatePerMinuteDefault),
    quotaBytes: positive(env.UPLOAD_QUOTA_BYTES, limits.uploadQuotaBytesDefault),
  };
}

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
      // Through the partial index attachments_unattached: only the last hour's unattached uploads are read.
      unattachedOf: db
        .select({ bytes: sum(logAttachments.size).mapWith(Number), oldest: min(logAttachments.createdAt) })
        .from(logAttachments)
        .where(
          and(
            isNull(logAttachments.messageId),
            gt(logAttachments.createdAt, p("since")),
            eq(logAttachments.uploaderId, p("uploaderId")),
            eq(logAttachments.removing, false),
          ),
        )
        .prepare(),
      newestUploads: db
        .select({ uploaderId: logAttachments.uploaderId, createdAt: logAttachments.createdAt })
        .from(logAttachments)
        .orderBy(desc(sql`rowid`))
        .limit(RATE_SCAN_ROWS)
        .prepare(),
    };
  }

  /**
   * Whether `uploaderId` may upload `size` more bytes now, per user in this chat: at most
   * `UPLOAD_RATE_PER_MINUTE` uploads in the last minute (429 `rate_limited`, Retry-After: until the
   * oldest of them leaves the minute), and at most `UPLOAD_QUOTA_BYTES` held in uploads not attached
   * to a message yet (413 `payload_too_large`, Retry-After: until the oldest of them expires; attaching
   * one frees its bytes at once). Null when it may. The room asks with size 0 before a byte is read
   * (`uploadAllowed`: the rate, and a quota already full) and with the size before it records the
   * upload (`recordUpload`, in the same turn as the insert, so concurrent uploads cannot both pass).
   */
  admit(uploaderId: number, size: number, now: number, env: UploadLimitsEnv): Refusal | null {
    const { perMinute, quotaBytes } = uploadLimits(env);
    const since = now - RATE_WINDOW_MS;
    const recent: number[] = [];
    for (const row of this.q.newestUploads.all()) {
      if (row.uploaderId === uploaderId && row.createdAt > since) recent.push(row.createdAt);
    }
    if (recent.length >= perMinute) {
      // Newest first: the perMinute-th newest is the one whose leaving makes room.
      const freesAt = recent.sort((a, b) => b - a)[perMinute - 1]! + RATE_WINDOW_MS;
      return refuse(ErrorCode.RateLimited, `at most ${perMinute} uploads a minute per user in a chat; try again later`, Math.max(1, Math.ceil((freesAt - now) / 1000)));
    }
    const held = this.q.unattachedOf.get({ uploaderId, since: now - this.unattachedTtlMs });
    const bytes = held?.bytes ?? 0;
    if (bytes + size > quotaBytes || (size === 0 && bytes >= quotaBytes)) {
      const freesAt = (held?.oldest ?? now) + this.unattachedTtlMs;
      return refuse(
        ErrorCode.PayloadTooLarge,
        `your uploads not attached to a message in this chat would exceed ${quotaBytes} bytes (${bytes} held); attach them, or wait until they expire`,
        Math.max(1, Math.ceil((freesAt - now) / 1000)),
      );
    }
    return null;
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

  /** Retention deleted the messages up to `messageId`: their files too (as `markRemoving`). Returns how many. */
  markRemovingThrough(messageId: number): number {
    return this.db
      .update(logAttachments)
      .set({ removing: true })
      .where(and(lte(logAttachments.messageId, messageId), eq(logAttachments.removing, false)))
      .returning({ id: logAttachments.id })
      .all().length;
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
