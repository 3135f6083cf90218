/** Message history and the room's batched write path. */
import { and, asc, desc, eq, gt, lt, sql } from "drizzle-orm";
import type { Message, User } from "../protocol/models";
import { compile, database, toIso, type Database } from "./client";
import { chatMembers, chats, messages, users, type MessageRow } from "./schema";

export function toMessage(row: MessageRow, username: string): Message {
  return {
    id: row.id,
    chatId: row.chatId,
    sender: { id: row.senderId, username },
    content: row.content,
    timestamp: toIso(row.createdAt),
  };
}

export interface HistoryCursor {
  before?: number;
  after?: number;
  limit: number;
}

/**
 * A page of history, ascending. Without a cursor or with `before`, `hasMore` says whether older
 * messages exist; with `after`, whether newer ones do.
 */
export async function listMessages(db: Database, chatId: number, cursor: HistoryCursor) {
  const forward = cursor.after !== undefined;
  const where = forward
    ? and(eq(messages.chatId, chatId), gt(messages.id, cursor.after!))
    : cursor.before !== undefined
      ? and(eq(messages.chatId, chatId), lt(messages.id, cursor.before))
      : eq(messages.chatId, chatId);
  const rows = await db
    .select({ message: messages, username: users.username })
    .from(messages)
    .innerJoin(users, eq(users.id, messages.senderId))
    .where(where)
    .orderBy(forward ? asc(messages.id) : desc(messages.id))
    .limit(cursor.limit + 1);
  const hasMore = rows.length > cursor.limit;
  const page = rows.slice(0, cursor.limit).map((r) => toMessage(r.message, r.username));
  if (!forward) page.reverse();
  return { messages: page, hasMore };
}

/** A message the room accepted and wants stored. */
export interface Draft {
  sender: User;
  content: string;
  clientId?: string;
  createdAt: number;
}

/** What the database made of a draft: a new message, or the earlier one with the same clientId. */
export interface Stored {
  message: Message;
  duplicate: boolean;
}

/**
 * The write path of one room. `write` stores a whole group of drafts in one D1 batch (one
 * transaction, one round trip): one insert per draft, then the chat's activity and each sender's
 * read marker. Statements are compiled once per room and only re-bound per message.
 *
 * Each insert is `ON CONFLICT DO NOTHING RETURNING id`: an empty result means the unique index
 * (chat, sender, clientId) already holds that message, which is then looked up and acknowledged
 * with its original id and timestamp.
 */
export function messageWriter(d1: D1Database, chatId: number) {
  const db = database(d1);
  const p = sql.placeholder;
  const insert = compile<{ senderId: number; content: string; clientId: string | null; createdAt: number }>(
    d1,
    db
      .insert(messages)
      .values({ chatId, senderId: p("senderId"), content: p("content"), clientId: p("clientId"), createdAt: p("createdAt") })
      .onConflictDoNothing()
      .returning({ id: messages.id }),
  );
  const touchChat = compile<{ at: number }>(
    d1,
    db
      .update(chats)
      .set({
        lastMessageId: sql`(SELECT max(${messages.id}) FROM ${messages} WHERE ${messages.chatId} = ${chatId})`,
        lastActivityAt: sql`max(${chats.lastActivityAt}, ${p("at")})`,
      })
      .where(eq(chats.id, chatId)),
  );
  // A user's own messages count as read by them: their marker moves to their newest message.
  const ownNewest = sql`(SELECT max(${messages.id}) FROM ${messages}
    WHERE ${messages.chatId} = ${chatId} AND ${messages.senderId} = ${p("userId")})`;
  const markOwnRead = compile<{ userId: number }>(
    d1,
    db
      .update(chatMembers)
      .set({ lastReadMessageId: ownNewest })
      .where(
        and(
          eq(chatMembers.chatId, chatId),
          eq(chatMembers.userId, p("userId")),
          sql`coalesce(${chatMembers.lastReadMessageId}, 0) < ${ownNewest}`,
        ),
      ),
  );
  const findByClientId = compile<{ senderId: number; clientId: string }>(
    d1,
    db
      .select({ id: messages.id, content: messages.content, createdAt: messages.createdAt })
      .from(messages)
      .where(and(eq(messages.chatId, chatId), eq(messages.senderId, p("senderId")), eq(messages.clientId, p("clientId")))),
  );

  return async function write(drafts: readonly Draft[]): Promise<Stored[]> {
    const inserts = drafts.map((d) =>
      insert.bind({ senderId: d.sender.id, content: d.content, clientId: d.clientId ?? null, createdAt: d.createdAt }),
    );
    const at = drafts.reduce((m, d) => Math.max(m, d.createdAt), 0);
    const senders = new Set(drafts.map((d) => d.sender.id));
    const results = await d1.batch<{ id: number }>([
      ...inserts,
      touchChat.bind({ at }),
      ...[...senders].map((userId) => markOwnRead.bind({ userId })),
    ]);
    const stored: Stored[] = [];
    const lookups: { index: number; draft: Draft }[] = [];
    drafts.forEach((draft, index) => {
      const row = results[index]?.results[0];
      if (row) {
        stored[index] = {
          duplicate: false,
          message: { id: row.id, chatId, sender: draft.sender, content: draft.content, timestamp: toIso(draft.createdAt) },
        };
      } else {
        lookups.push({ index, draft });
      }
    });
    if (lookups.length > 0) {
      const found = await d1.batch<{ id: number; content: string; created_at: number }>(
        lookups.map(({ draft }) => findByClientId.bind({ senderId: draft.sender.id, clientId: draft.clientId! })),
      );
      lookups.forEach(({ index, draft }, i) => {
        const row = found[i]?.results[0];
        if (!row) throw new Error("insert conflicted but no earlier message was found");
        stored[index] = {
          duplicate: true,
          message: { id: row.id, chatId, sender: draft.sender, content: row.content, timestamp: toIso(row.created_at) },
        };
      });
    }
    return stored;
  };
}
