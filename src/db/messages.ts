/** Message history and the room's batched write path. */
import { and, asc, desc, eq, gt, lt, sql, type SQL } from "drizzle-orm";
import type { Message, User } from "../protocol/models";
import { compile, toIso, type Database } from "./client";
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
 * transaction, one round trip) of three statements, compiled once per room and re-bound per batch:
 *
 * 1. one INSERT for all drafts, which travel as a single JSON parameter (`json_each`): one bound
 *    parameter whatever the group size, so D1's 100-parameter limit never applies, and far less
 *    work than one statement per message;
 * 2. the chat's last message and activity time;
 * 3. each sender's read marker, moved to their newest message.
 *
 * The insert is `ON CONFLICT DO NOTHING`: a draft whose (chat, sender, clientId) is already stored
 * returns no row. Those are looked up (rare: resends) and acknowledged with the original id and time.
 */
export function messageWriter(d1: D1Database, chatId: number) {
  const p = sql.placeholder;
  const field = (name: string) => sql.raw(`json_extract(value, '$.${name}')`);
  const insert = compile<{ drafts: string }>(
    d1,
    sql`INSERT INTO ${messages} (chat_id, sender_id, content, client_id, created_at)
      SELECT ${chatId}, ${field("s")}, ${field("c")}, ${field("k")}, ${field("t")} FROM json_each(${p("drafts")})
      WHERE true ON CONFLICT DO NOTHING RETURNING id, sender_id, client_id`,
  );
  const newest = (senderColumn?: SQL) =>
    sql`(SELECT max(${messages.id}) FROM ${messages} WHERE ${messages.chatId} = ${chatId}${senderColumn ? sql` AND ${messages.senderId} = ${senderColumn}` : sql``})`;
  const touchChat = compile<{ at: number }>(
    d1,
    sql`UPDATE ${chats} SET last_message_id = ${newest()}, last_activity_at = max(last_activity_at, ${p("at")})
      WHERE ${chats.id} = ${chatId}`,
  );
  // A user's own messages count as read by them.
  const ownNewest = newest(sql.raw(`"chat_members"."user_id"`));
  const markOwnRead = compile<{ senders: string }>(
    d1,
    sql`UPDATE ${chatMembers} SET last_read_message_id = ${ownNewest}
      WHERE ${chatMembers.chatId} = ${chatId} AND ${chatMembers.userId} IN (SELECT value FROM json_each(${p("senders")}))
      AND coalesce(${chatMembers.lastReadMessageId}, 0) < ${ownNewest}`,
  );
  const findByClientId = compile<{ senderId: number; clientId: string }>(
    d1,
    sql`SELECT id, content, created_at FROM ${messages}
      WHERE ${messages.chatId} = ${chatId} AND ${messages.senderId} = ${p("senderId")} AND ${messages.clientId} = ${p("clientId")}`,
  );

  return async function write(drafts: readonly Draft[]): Promise<Stored[]> {
    const rows = drafts.map((d) => ({ s: d.sender.id, c: d.content, k: d.clientId ?? null, t: d.createdAt }));
    const [inserted] = await d1.batch<{ id: number; sender_id: number; client_id: string | null }>([
      insert.bind({ drafts: JSON.stringify(rows) }),
      touchChat.bind({ at: drafts.reduce((m, d) => Math.max(m, d.createdAt), 0) }),
      markOwnRead.bind({ senders: JSON.stringify([...new Set(drafts.map((d) => d.sender.id))]) }),
    ]);
    const stored = matchInserted(drafts, inserted?.results ?? []).map((id, i): Stored | null => {
      const draft = drafts[i]!;
      return id === null
        ? null
        : { duplicate: false, message: { id, chatId, sender: draft.sender, content: draft.content, timestamp: toIso(draft.createdAt) } };
    });
    const lookups = drafts.flatMap((draft, index) => (stored[index] ? [] : [{ draft, index }]));
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
    return stored as Stored[];
  };
}

/**
 * Which inserted row belongs to which draft: the id of each draft's new row, or null for a draft
 * the unique index turned away. Rows are inserted in draft order, so their ids ascend in that order;
 * a draft without a clientId always inserts, one with a clientId inserted if the next row carries
 * its (sender, clientId).
 */
export function matchInserted(
  drafts: readonly Pick<Draft, "sender" | "clientId">[],
  rows: readonly { id: number; sender_id: number; client_id: string | null }[],
): (number | null)[] {
  const ordered = [...rows].sort((a, b) => a.id - b.id);
  let next = 0;
  return drafts.map((draft) => {
    const row = ordered[next];
    if (row && row.sender_id === draft.sender.id && row.client_id === (draft.clientId ?? null)) {
      next++;
      return row.id;
    }
    if (draft.clientId === undefined) throw new Error("a draft without clientId was not inserted");
    return null;
  });
}
