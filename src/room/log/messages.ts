/**
 * The chat's log of record: appends (idempotent by clientId), changes (edits, deletes, reactions,
 * each numbered by the chat's change counter), history pages and the D1 outbox.
 */
import { and, asc, count, desc, eq, gt, gte, isNotNull, isNull, lt, lte, max, ne, sql } from "drizzle-orm";
import { alias } from "drizzle-orm/sqlite-core";
import { limits } from "../../protocol/limits";
import type { ChangePage, Message, MessagePage, User } from "../../protocol/models";
import { MetaKey, readMeta, writeMeta, type LogDatabase } from "./open";
import { replyPreview, toMessage, type StoredAttachment, type StoredReaction } from "../../protocol/stored";
import { ClientIdWindow } from "./client-ids";
import { compileWrite } from "./compiled";
import { logMessages, type LogMessageRow } from "./schema";

/** A message the room accepted and wants stored. */
export interface Draft {
  sender: User;
  content: string;
  clientId?: string;
  replyToId?: number;
  /** Uploads the room checked are the sender's own and unattached. */
  attachments?: StoredAttachment[];
  createdAt: number;
}

/** A change as stored: the message in its new state and the change's number. */
export interface Changed {
  row: LogMessageRow;
  changeId: number;
}

export interface HistoryCursor {
  before?: number;
  after?: number;
  limit: number;
}

const p = sql.placeholder;
const IMPORT_ROWS_PER_STATEMENT = 16;

/** The columns a new message sets; the others (edits, deletes, reactions) start null. */
const INSERTED = ["id", "senderId", "senderName", "content", "clientId", "createdAt", "replyToId", "attachments"] as const;
/** Durable Object SQL takes at most 100 bound parameters per statement, whatever local emulation allows. */
const INSERT_ROWS_PER_STATEMENT = Math.floor(100 / INSERTED.length);

/** An insert of `count` new messages, compiled once; its placeholders are `<column><row>` (`content0`, `content1`, …). */
function compileInsert(db: LogDatabase, count: number): (rows: LogMessageRow[]) => void {
  const rows = Array.from({ length: count }, (_, i) => Object.fromEntries(INSERTED.map((column) => [column, p(column + i)])));
  return compileWrite(db, db.insert(logMessages).values(rows as never), (name) => {
    const [, column, row] = /^([a-zA-Z]+)(\d+)$/.exec(name)! as unknown as [string, (typeof INSERTED)[number], string];
    const i = Number(row);
    return (input: LogMessageRow[]) => input[i]![column];
  });
}

/** The message a reply answers, as far as its preview needs it. */
type Original = Pick<LogMessageRow, "id" | "senderId" | "senderName" | "content" | "deletedAt">;
/** A row with the message it replies to, if any, read in the same statement. */
interface RowWithOriginal {
  message: LogMessageRow;
  original: Original | null;
}

const originals = alias(logMessages, "originals");
/**
 * Pages read each reply's original by a self-join instead of one lookup per reply (up to a page's
 * hundred of them).
 */
const withOriginal = {
  message: logMessages,
  original: { id: originals.id, senderId: originals.senderId, senderName: originals.senderName, content: originals.content, deletedAt: originals.deletedAt },
};

/**
 * Every query is prepared once per room (Drizzle builds the SQL once; each call only binds): on the
 * send path, building the SQL anew cost ten times the SQLite work itself.
 */
function prepare(db: LogDatabase) {
  const page = (where: ReturnType<typeof gt> | undefined, ascending: boolean) =>
    db
      .select(withOriginal)
      .from(logMessages)
      .leftJoin(originals, eq(originals.id, logMessages.replyToId))
      .where(where)
      .orderBy(ascending ? asc(logMessages.id) : desc(logMessages.id))
      .limit(p("limit"))
      .prepare();
  return {
    newestClientIds: db
      .select({ id: logMessages.id, senderId: logMessages.senderId, clientId: logMessages.clientId, createdAt: logMessages.createdAt })
      .from(logMessages)
      .where(lt(logMessages.id, p("id")))
      .orderBy(desc(logMessages.id))
      .limit(p("limit"))
      .prepare(),
    // A resend whose clientId left memory: one block of the primary key, no index (./client-ids.ts).
    clientIdInRange: db
      .select({ id: logMessages.id })
      .from(logMessages)
      .where(
        and(
          gte(logMessages.id, p("fromId")),
          lte(logMessages.id, p("toId")),
          eq(logMessages.senderId, p("senderId")),
          eq(logMessages.clientId, p("clientId")),
          gte(logMessages.createdAt, p("since")),
        ),
      )
      .orderBy(desc(logMessages.id))
      .limit(1)
      .prepare(),
    newest: page(undefined, false),
    before: page(lt(logMessages.id, p("id")), false),
    after: page(gt(logMessages.id, p("id")), true),
    // The copy to D1 needs no previews.
    rowsAfter: db.select().from(logMessages).where(gt(logMessages.id, p("id"))).orderBy(asc(logMessages.id)).limit(p("limit")).prepare(),
    byId: db.select().from(logMessages).where(eq(logMessages.id, p("id"))).prepare(),
    // The condition lets SQLite answer from the partial index (messages_change_id), not a scan of the log.
    lastChangeId: db.select({ id: max(logMessages.changeId) }).from(logMessages).where(isNotNull(logMessages.changeId)).prepare(),
    changedAfter: db
      .select()
      .from(logMessages)
      .where(and(gt(logMessages.changeId, p("after")), lte(logMessages.id, p("upTo"))))
      .orderBy(asc(logMessages.changeId))
      .limit(p("limit"))
      .prepare(),
    // The changes page shows reply previews; the copy and the replays (changedAfter) need none.
    changedAfterWithOriginals: db
      .select(withOriginal)
      .from(logMessages)
      .leftJoin(originals, eq(originals.id, logMessages.replyToId))
      .where(and(gt(logMessages.changeId, p("after")), lte(logMessages.id, p("upTo"))))
      .orderBy(asc(logMessages.changeId))
      .limit(p("limit"))
      .prepare(),
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
      // A deleted message is not waiting to be read.
      .where(and(gt(logMessages.id, p("marker")), ne(logMessages.senderId, p("userId")), isNull(logMessages.deletedAt)))
      .prepare(),
    // The same, for a member who blocks some senders: theirs are not counted (`blocked`: a JSON list).
    unreadNotBlocked: db
      .select({ n: count() })
      .from(logMessages)
      .where(
        and(
          gt(logMessages.id, p("marker")),
          ne(logMessages.senderId, p("userId")),
          isNull(logMessages.deletedAt),
          sql`${logMessages.senderId} NOT IN (SELECT value FROM json_each(${p("blocked")}))`,
        ),
      )
      .prepare(),
    // Retention walks the log from its oldest message.
    oldestAfter: db
      .select({ id: logMessages.id, createdAt: logMessages.createdAt })
      .from(logMessages)
      .where(gt(logMessages.id, p("id")))
      .orderBy(asc(logMessages.id))
      .limit(p("limit"))
      .prepare(),
  };
}


/**
 * `user`'s reaction with `emoji` added or removed; null when nothing changes (already there, or not
 * there to remove), "full" when a new emoji would exceed the distinct-emoji limit.
 */
export function applyReaction(stored: StoredReaction[] | null, emoji: string, userId: number, add: boolean): StoredReaction[] | null | "full" {
  const reactions = stored ?? [];
  const existing = reactions.find((r) => r.emoji === emoji);
  if (add) {
    if (existing?.userIds.includes(userId)) return null;
    if (!existing && reactions.length >= limits.reactionsMax) return "full";
    return existing
      ? reactions.map((r) => (r === existing ? { emoji, userIds: [...r.userIds, userId] } : r))
      : [...reactions, { emoji, userIds: [userId] }];
  }
  if (!existing?.userIds.includes(userId)) return null;
  const userIds = existing.userIds.filter((id) => id !== userId);
  return userIds.length > 0 ? reactions.map((r) => (r === existing ? { emoji, userIds } : r)) : reactions.filter((r) => r !== existing);
}

export class MessageLog {
  private readonly q: ReturnType<typeof prepare>;
  /** The chat's change counter: every edit, delete and reaction change takes the next number. */
  private changeCounter: number;
  /**
   * The newest id this log gave out, and the id retention deleted through: what `has` answers from,
   * with no query (a read marker asks it on every `mark_read`, and the query was a tenth of a busy
   * room's time in the soak), and where the next id starts: after both, so an id is never given
   * twice, even once retention emptied the log (SQLite alone would start again at 1).
   */
  private newestGiven: number;
  private expiredThrough: number;
  private readonly clientIds: ClientIdWindow;
  /** Inserts by row count, compiled on first use. */
  private readonly inserts: ReturnType<typeof compileInsert>[] = [];

  constructor(
    private readonly db: LogDatabase,
    private readonly chatId: number,
    /** Tests lower the clientIds memory holds (`limits.clientIdWindowMessages`) to reach the spill. */
    options: { clientIdsInMemory?: number } = {},
  ) {
    this.q = prepare(db);
    this.changeCounter = Math.max(this.q.lastChangeId.get()?.id ?? 0, readMeta(db, MetaKey.ChangeFloor) ?? 0);
    this.expiredThrough = readMeta(db, MetaKey.ExpiredThrough) ?? 0;
    this.newestGiven = this.newestId();
    this.clientIds = new ClientIdWindow(
      (id, limit) => this.q.newestClientIds.all({ id, limit }),
      (senderId, clientId, fromId, toId, since) => this.q.clientIdInRange.get({ senderId, clientId, fromId, toId, since })?.id,
      limits.clientIdWindowMs,
      options.clientIdsInMemory ?? limits.clientIdWindowMessages,
    );
  }

  /** One message on its own; its original, if it replies, is read for the preview. */
  toMessage(row: LogMessageRow): Message {
    return this.compose({ message: row, original: row.replyToId === null ? null : (this.q.byId.get({ id: row.replyToId }) ?? null) });
  }

  private compose({ message: row, original }: RowWithOriginal): Message {
    return toMessage(row, this.chatId, row.senderName, original ? replyPreview(original, original.senderName) : null);
  }

  get(id: number): LogMessageRow | undefined {
    return this.q.byId.get({ id });
  }

  lastChangeId(): number {
    return this.changeCounter;
  }

  /** New content for a message; the caller checked who may and that it is not deleted. */
  edit(id: number, content: string, at: number): Changed {
    return this.change(id, { content, editedAt: at });
  }

  /** Empties a message for good: no content, no reactions, no attachments; its id and place stay. */
  remove(id: number, at: number): Changed {
    return this.change(id, { content: "", reactions: null, attachments: null, deletedAt: at });
  }

  setReactions(id: number, reactions: StoredReaction[]): Changed {
    return this.change(id, { reactions: reactions.length > 0 ? reactions : null });
  }

  private change(id: number, set: Partial<Pick<LogMessageRow, "content" | "editedAt" | "deletedAt" | "reactions" | "attachments">>): Changed {
    const changeId = this.changeCounter + 1;
    const row = this.db.update(logMessages).set({ ...set, changeId }).where(eq(logMessages.id, id)).returning().get();
    if (!row) throw new Error(`message ${id} is not in the log`);
    this.changeCounter = changeId;
    return { row, changeId };
  }

  /**
   * Messages up to `upTo` that changed after change `after`, in the order of their last change,
   * in their current state: what a client that has seen up to both cursors is missing.
   */
  changesAfter(after: number, upTo: number, limit: number): ChangePage {
    const rows = this.q.changedAfterWithOriginals.all({ after, upTo, limit: limit + 1 });
    const page = rows.slice(0, limit);
    return { messages: page.map((r) => this.compose(r)), lastChangeId: page.at(-1)?.message.changeId ?? after, hasMore: rows.length > limit };
  }

  /** Rows up to id `upTo` that changed after change `after`, oldest change first (for replays and the copy to D1). */
  changedRowsAfter(after: number, upTo: number, limit: number): LogMessageRow[] {
    return this.q.changedAfter.all({ after, upTo, limit });
  }

  /**
   * Stores a draft; the caller asked `byClient` first (a resend must not reach here). Synchronous:
   * the write commits with the turn it runs in, and the runtime holds every frame sent in that turn
   * until it is durable — an ack can never overtake its message.
   */
  append(draft: Draft): Message {
    return this.appendAll([draft])[0]!;
  }

  /**
   * Stores drafts in their order, as one write: all of them or (it throws) none, and nothing in
   * memory changes then. Ids are given here, after the newest ever given (or deleted by retention),
   * so they are never reused and need no RETURNING: a busy room spent a third of its time on an
   * insert that read its row back, one statement per message (docs/PERFORMANCE.md).
   */
  appendAll(drafts: Draft[]): Message[] {
    const first = Math.max(this.newestGiven, this.expiredThrough) + 1;
    const rows = drafts.map((draft, i): LogMessageRow => ({
      id: first + i,
      senderId: draft.sender.id,
      senderName: draft.sender.username,
      content: draft.content,
      clientId: draft.clientId ?? null,
      createdAt: draft.createdAt,
      replyToId: draft.replyToId ?? null,
      editedAt: null,
      deletedAt: null,
      reactions: null,
      changeId: null,
      attachments: draft.attachments?.length ? draft.attachments : null,
    }));
    const write = () => {
      for (let i = 0; i < rows.length; i += INSERT_ROWS_PER_STATEMENT) this.insertRows(rows.slice(i, i + INSERT_ROWS_PER_STATEMENT));
    };
    // One statement is atomic by itself; several share a transaction.
    if (rows.length > INSERT_ROWS_PER_STATEMENT) this.db.transaction(write);
    else write();
    this.newestGiven = rows.at(-1)?.id ?? this.newestGiven;
    for (const row of rows) this.clientIds.add(row, row.createdAt);
    return rows.map((row) => this.toMessage(row));
  }

  /** One INSERT of up to INSERT_ROWS_PER_STATEMENT rows, its statement compiled once per row count. */
  private insertRows(rows: LogMessageRow[]): void {
    (this.inserts[rows.length] ??= compileInsert(this.db, rows.length))(rows);
  }

  /**
   * Rows as they are, for the import of a chat's messages from before the log. Durable Object SQL
   * takes at most 100 bound parameters per statement (six per row here), whatever local emulation
   * allows.
   */
  importRows(rows: Pick<LogMessageRow, "id" | "senderId" | "senderName" | "content" | "clientId" | "createdAt">[]): void {
    for (let i = 0; i < rows.length; i += IMPORT_ROWS_PER_STATEMENT) {
      this.db.insert(logMessages).values(rows.slice(i, i + IMPORT_ROWS_PER_STATEMENT)).onConflictDoNothing().run();
    }
    this.newestGiven = Math.max(this.newestGiven, this.newestId());
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
    const page = rows.slice(0, cursor.limit).map((r) => this.compose(r));
    if (!forward) page.reverse();
    return { messages: page, hasMore, lastChangeId: this.changeCounter };
  }

  /** The message a sender's clientId stored within the idempotency window, if any (a resend). */
  byClient(senderId: number, clientId: string, now: number): LogMessageRow | undefined {
    const id = this.clientIds.find(senderId, clientId, now);
    return id === undefined ? undefined : this.q.byId.get({ id });
  }

  /**
   * Whether `id` is a place in this log a read marker can stand: given out and not expired. Ids are
   * dense from 1 (SQLite's rowid, nothing but retention deletes rows); a chat imported from before
   * the log may have gaps, and a marker on one reads as far as the message before it.
   */
  has(id: number): boolean {
    return Number.isSafeInteger(id) && id > this.expiredThrough && id <= this.newestGiven;
  }

  /** Retention deleted every message up to this id (0: none): what a joining client drops first. */
  expiredThroughId(): number {
    return this.expiredThrough;
  }

  newest(): Message | null {
    const [row] = this.q.newest.all({ limit: 1 });
    return row ? this.compose(row) : null;
  }

  newestId(): number {
    return this.q.newestId.get()?.id ?? 0;
  }

  /** Each sender's newest message after `id`. */
  newestBySenderAfter(id: number): Map<number, number> {
    return new Map(this.q.newestBySenderAfter.all({ id }).map((r) => [r.senderId, r.id ?? 0]));
  }

  /** Messages from others after `marker`, not from a sender the member blocks: the member's unread count. */
  unreadCount(userId: number, marker: number | null, blocked: readonly number[] = []): number {
    if (blocked.length === 0) return this.q.unread.get({ marker: marker ?? 0, userId })?.n ?? 0;
    return this.q.unreadNotBlocked.get({ marker: marker ?? 0, userId, blocked: JSON.stringify(blocked) })?.n ?? 0;
  }

  /**
   * The newest id of the oldest run of messages stored at or before `cutoff` (ms), reading at most
   * `limit` rows from the oldest; null when the oldest message is newer. `more`: the limit cut the run.
   */
  expiringThrough(cutoff: number, limit: number): { throughId: number; more: boolean } | null {
    let throughId: number | null = null;
    for (let read = 0; read < limit; ) {
      const rows = this.q.oldestAfter.all({ id: throughId ?? 0, limit: Math.min(256, limit - read) });
      read += rows.length;
      for (const row of rows) {
        if (row.createdAt > cutoff) return throughId === null ? null : { throughId, more: false };
        throughId = row.id;
      }
      if (rows.length === 0) return throughId === null ? null : { throughId, more: false };
    }
    return throughId === null ? null : { throughId, more: true };
  }

  /** When the oldest message was stored (ms), or null for an empty log. */
  oldestAt(): number | null {
    return this.q.oldestAfter.get({ id: 0, limit: 1 })?.createdAt ?? null;
  }

  /**
   * Deletes every message up to `throughId` for good (retention). Ids and change ids never go back:
   * the next message takes an id after it even when the log is now empty, and the change counter
   * is kept.
   */
  expireThrough(throughId: number): void {
    this.db.delete(logMessages).where(lte(logMessages.id, throughId)).run();
    writeMeta(this.db, MetaKey.ExpiredThrough, throughId);
    this.expiredThrough = Math.max(this.expiredThrough, throughId);
    writeMeta(this.db, MetaKey.ChangeFloor, this.changeCounter);
  }

  /** Senders and times of the messages stored at or after `since` (ms), newest first (slow mode's memory after a wake). */
  *recentSends(since: number): Generator<{ senderId: number; createdAt: number }> {
    for (let before = Number.MAX_SAFE_INTEGER; ; ) {
      const rows = this.q.newestClientIds.all({ id: before, limit: 64 });
      for (const row of rows) {
        if (row.createdAt < since) return;
        yield row;
      }
      if (rows.length < 64) return;
      before = rows.at(-1)!.id;
    }
  }

  /** The oldest `limit` rows after `id`: what D1 does not have yet. */
  rowsAfter(id: number, limit: number): LogMessageRow[] {
    return this.q.rowsAfter.all({ id, limit });
  }
}
