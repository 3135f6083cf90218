/** Members' reports of the chat's messages, for its admins: one per message and reporter. */
import { desc, lt, lte } from "drizzle-orm";
import type { User } from "../../protocol/models";
import type { LogDatabase } from "./open";
import { logReports, type LogReportRow } from "./schema";

export class ReportLog {
  constructor(private readonly db: LogDatabase) {}

  /** Keeps the report and returns it; the same reporter reporting the same message again changes nothing (null). */
  add(messageId: number, reporter: User, reason: string, at: number): LogReportRow | null {
    return (
      this.db
        .insert(logReports)
        .values({ messageId, reporterId: reporter.id, reporterName: reporter.username, reason, createdAt: at })
        .onConflictDoNothing()
        .returning()
        .get() ?? null
    );
  }

  /** Newest first, older than report `before` if given; `hasMore`: older ones exist. */
  page(before: number | undefined, limit: number): { rows: LogReportRow[]; hasMore: boolean } {
    const rows = this.db
      .select()
      .from(logReports)
      .where(before === undefined ? undefined : lt(logReports.id, before))
      .orderBy(desc(logReports.id))
      .limit(limit + 1)
      .all();
    return { rows: rows.slice(0, limit), hasMore: rows.length > limit };
  }

  /** Retention deleted the messages up to `messageId`: their reports go with them. */
  expireThrough(messageId: number): void {
    this.db.delete(logReports).where(lte(logReports.messageId, messageId)).run();
  }
}
