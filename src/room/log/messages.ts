/** The chat's log of record: appends (idempotent by clientId), history pages and the D1 outbox. */
import { and, asc, count, desc, eq, gt, lt, max, ne, sql } from "drizzle-orm";
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

const p = sql.placeholder;
const IMPORT_ROWS_PER_STATEMENT = 16;

/**
 * Every query is prepared once per room (Drizzle builds the SQL once; each call only binds): on the
 * send path, building the SQL anew cost ten times the SQLite work itself.
 */
function prepare(db: LogDatabase) {
  const page = (where: ReturnType<typeof gt> | undefined, ascending: boolean) =>
    db
      .select()
      .from(logMessages)
      .where(where)
      .orderBy(ascending ? asc(logMessages.id) : desc(logMessages.id))
      .limit(p("limit"))
      .prepare();
  return {
    byClientId: db
      .select()
      .from(logMessages)
      .where(and(eq(logMessages.senderId, p("senderId")), eq(logMessages.clientId, p("clientId"))))
      .prepare(),
    insert: db
      .insert(logMessages)
      .values({ senderId: p("senderId"), senderName: p("senderName"), content: p("content"), clientId: p("clientId"), createdAt: p("createdAt") })
      // A clientId the sender already used inserts nothing (the unique index), and returns no row.
      .onConflictDoNothing()
      .returning()
      .prepare(),
    newest: page(undefined, false),
    before: page(lt(logMessages.id, p("id")), false),
    after: page(gt(logMessages.id, p("id")), true),
    byId: db.select({ id: logMessages.id }).from(logMessages).where(eq(logMessages.id, p("id"))).prepare(),
    newestId: db.select({ id: max(logMessages.id) }).from(logMessages).prepare(),
    newestBySenderAfter: db
      .select({ senderId: logMessages.senderId, id: max(logMessages.id) })
      .from(logMessages)
      .where(gt(logMessages.id, p("id")))
      .groupBy(logMessages.senderId)
      .prepare(),
    unread: db
      .select({ n: count() })
      .from(logMessages)
      .where(and(gt(logMessages.id, p("marker")), ne(logMessages.senderId, p("userId"))))
      .prepare(),
  };
}

export class MessageLog {
  private readonly q: ReturnType<typeof prepare>;

  constructor(
    private readonly db: LogDatabase,
    private readonly chatId: number,
  ) {
    this.q = prepare(db);
  }

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
    const row = this.q.insert.get({
      senderId: draft.sender.id,
      senderName: draft.sender.username,
      content: draft.content,
      clientId: draft.clientId ?? null,
      createdAt: draft.createdAt,
    });
    if (row) return { message: this.toMessage(row), duplicate: false };
    // Rare (a resend): one statement per message otherwise.
    const earlier = this.q.byClientId.get({ senderId: draft.sender.id, clientId: draft.clientId! })!;
    return { message: this.toMessage(earlier), duplicate: true };
  }

  /**
   * Rows as they are, for the import of a chat's messages from before the log. Durable Object SQL
   * takes at most 100 bound parameters per statement (six per row here), whatever local emulation
   * allows.
   */
  importRows(rows: LogMessageRow[]): void {
    for (let i = 0; i < rows.length; i += IMPORT_ROWS_PER_STATEMENT) {
      this.db.insert(logMessages).values(rows.slice(i, i + IMPORT_ROWS_PER_STATEMENT)).onConflictDoNothing().run();
    }
  }

  /**
   * A page of history, ascending. Without a cursor or with `before`, `hasMore` says whether older
   * messages exist; with `after`, whether newer ones do.
   */
  page(cursor: HistoryCursor): MessagePage {
    const forward = cursor.after !== undefined;
    const limit = cursor.limit + 1;
    const rows = forward
      ? this.q.after.all({ id: cursor.after, limit })
      : cursor.before !== undefined
        ? this.q.before.all({ id: cursor.before, limit })
        : this.q.newest.all({ limit });
    const hasMore = rows.length > cursor.limit;
    const page = rows.slice(0, cursor.limit).map((r) => this.toMessage(r));
    if (!forward) page.reverse();
    return { messages: page, hasMore };
  }

  has(id: number): boolean {
    return this.q.byId.get({ id }) !== undefined;
  }

  newest(): Message | null {
    const [row] = this.q.newest.all({ limit: 1 });
    return row ? this.toMessage(row) : null;
  }

  newestId(): number {
    return this.q.newestId.get()?.id ?? 0;
  }

  /** Each sender's newest message after `id`. */
  newestBySenderAfter(id: number): Map<number, number> {
    return new Map(this.q.newestBySenderAfter.all({ id }).map((r) => [r.senderId, r.id ?? 0]));
  }

  /** Messages from others after `marker`: the member's unread count. */
  unreadCount(userId: number, marker: number | null): number {
    return this.q.unread.get({ marker: marker ?? 0, userId })?.n ?? 0;
  }

  /** The oldest `limit` rows after `id`: what D1 does not have yet. */
  rowsAfter(id: number, limit: number): LogMessageRow[] {
    return this.q.after.all({ id, limit });
  }
}
