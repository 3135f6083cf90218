/** The chat's log of record: appends (idempotent by clientId), history pages and the D1 outbox. */
import { and, asc, count, desc, eq, gt, lt, max, ne, type SQL } from "drizzle-orm";
import type { Message, MessagePage, User } from "../../protocol/models";
import type { LogDatabase } from "./open";
import { logMessages, type LogMessageRow } from "./schema";

/** A message the room accepted and wants stored. */
export interface Draft {
  sender: User;
  content: string;
  clientId?: string;
  createdAt: number;
}

export interface Appended {
  message: Message;
  /** True when the sender already stored this clientId: `message` is that first one. */
  duplicate: boolean;
}

export interface HistoryCursor {
  before?: number;
  after?: number;
  limit: number;
}

export class MessageLog {
  constructor(
    private readonly db: LogDatabase,
    private readonly chatId: number,
  ) {}

  toMessage(row: LogMessageRow): Message {
    return {
      id: row.id,
      chatId: this.chatId,
      sender: { id: row.senderId, username: row.senderName },
      content: row.content,
      timestamp: new Date(row.createdAt).toISOString(),
    };
  }

  /**
   * Stores a draft, or finds the message its clientId already stored. Synchronous: the write
   * commits with the turn it runs in, and the runtime holds every frame sent in that turn until it
   * is durable — an ack can never overtake its message.
   */
  append(draft: Draft): Appended {
    if (draft.clientId !== undefined) {
      const earlier = this.db
        .select()
        .from(logMessages)
        .where(and(eq(logMessages.senderId, draft.sender.id), eq(logMessages.clientId, draft.clientId)))
        .get();
      if (earlier) return { message: this.toMessage(earlier), duplicate: true };
    }
    const row = this.db
      .insert(logMessages)
      .values({
        senderId: draft.sender.id,
        senderName: draft.sender.username,
        content: draft.content,
        clientId: draft.clientId ?? null,
        createdAt: draft.createdAt,
      })
      .returning()
      .get();
    return { message: this.toMessage(row), duplicate: false };
  }

  /** Rows as they are, for the import of a chat's messages from before the log. */
  importRows(rows: LogMessageRow[]): void {
    if (rows.length > 0) this.db.insert(logMessages).values(rows).onConflictDoNothing().run();
  }

  /**
   * A page of history, ascending. Without a cursor or with `before`, `hasMore` says whether older
   * messages exist; with `after`, whether newer ones do.
   */
  page(cursor: HistoryCursor): MessagePage {
    const forward = cursor.after !== undefined;
    const where: SQL | undefined = forward
      ? gt(logMessages.id, cursor.after!)
      : cursor.before !== undefined
        ? lt(logMessages.id, cursor.before)
        : undefined;
    const rows = this.db
      .select()
      .from(logMessages)
      .where(where)
      .orderBy(forward ? asc(logMessages.id) : desc(logMessages.id))
      .limit(cursor.limit + 1)
      .all();
    const hasMore = rows.length > cursor.limit;
    const page = rows.slice(0, cursor.limit).map((r) => this.toMessage(r));
    if (!forward) page.reverse();
    return { messages: page, hasMore };
  }

  has(id: number): boolean {
    return this.db.select({ id: logMessages.id }).from(logMessages).where(eq(logMessages.id, id)).get() !== undefined;
  }

  newest(): Message | null {
    const row = this.db.select().from(logMessages).orderBy(desc(logMessages.id)).limit(1).get();
    return row ? this.toMessage(row) : null;
  }

  newestId(): number {
    return this.db.select({ id: max(logMessages.id) }).from(logMessages).get()?.id ?? 0;
  }

  /** Messages from others after `marker`: the member's unread count. */
  unreadCount(userId: number, marker: number | null): number {
    return (
      this.db
        .select({ n: count() })
        .from(logMessages)
        .where(and(gt(logMessages.id, marker ?? 0), ne(logMessages.senderId, userId)))
        .get()?.n ?? 0
    );
  }

  /** The oldest `limit` rows after `id`: what D1 does not have yet. */
  rowsAfter(id: number, limit: number): LogMessageRow[] {
    return this.db.select().from(logMessages).where(gt(logMessages.id, id)).orderBy(asc(logMessages.id)).limit(limit).all();
  }
}
