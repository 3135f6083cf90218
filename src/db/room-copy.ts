/**
 * D1's side of a room's write-behind: copying its log and markers into D1, and loading a room's
 * starting state from D1 (members, and the messages of a chat from before rooms kept logs).
 */
import { and, asc, eq, gt, sql } from "drizzle-orm";
import type { Role } from "../protocol/models";
import type { CopiedMessage } from "../protocol/stored";
import { blocksAmongMembers, type BlockPair } from "./blocks";
import { compile, type Database } from "./client";
import { chatMembers, chats, messages, pushSubscriptions, users } from "./schema";

export type { CopiedMessage };

/** D1 refuses statements over 100 KB; a chunk's JSON stays well under, whatever the content. */
export const MAX_STATEMENT_JSON_BYTES = 90_000;

export interface CopiedMarker {
  userId: number;
  lastRead: number;
}

/** A member's state of record as it travels to D1 (the room decided it; D1 follows). */
export interface CopiedMember {
  userId: number;
  role: Role;
  active: boolean;
  joinedAt: number;
  lastRead: number | null;
}

/** The room's membership changes D1 does not have yet: members' states, and the name and settings if they changed. */
export interface CopiedMembership {
  members: readonly CopiedMember[];
  /** Absent: unchanged. */
  chat?: { name: string | null; slowModeSeconds: number; retentionSeconds: number | null };
}

/** Retention deleted the room's messages `after` < id ≤ `through`: D1 deletes its copies and their search entries. */
export type CopiedExpiry = {
  after: number;
  through: number;
};

/** Messages one copy deletes from D1 at most (retention); the next copy goes on where it stopped. */
export const EXPIRE_ROWS_PER_COPY = 5000;

/** What a copy did beyond writing: who has an inbox open, and how far D1 has deleted what retention deleted (null: nothing asked). */
export interface CopyResult {
  /** Members with an inbox open. */
  open: Set<number>;
  /** Members with a push subscription. */
  pushable: Set<number>;
  expiredThrough: number | null;
}

const encoder = new TextEncoder();

/**
 * Splits rows into JSON arrays of at most `maxBytes` each (a single message always fits: its
 * content is at most 4,000 characters; a marker is a few bytes). Pure, so the limit can be tested
 * without D1.
 */
export function chunkByBytes(rows: readonly object[], maxBytes = MAX_STATEMENT_JSON_BYTES): string[] {
  const chunks: string[] = [];
  let current: string[] = [];
  let size = 2;
  for (const row of rows) {
    const json = JSON.stringify(row);
    const bytes = encoder.encode(json).length + 1;
    if (current.length > 0 && size + bytes > maxBytes) {
      chunks.push(`[${current.join(",")}]`);
      current = [];
      size = 2;
    }
    current.push(json);
    size += bytes;
  }
  if (current.length > 0) chunks.push(`[${current.join(",")}]`);
  return chunks;
}

/**
 * A search block's messages lie within this many ids of its first (src/db/search.ts reads a block by
 * that key range; migration 0009's triggers use the same 256).
 */
export const SEARCH_BLOCK_SPAN = 256;

/**
 * The copy's message chunks: ordered by id, each within SEARCH_BLOCK_SPAN ids of its first row (so
 * the new messages of a chunk can be one search block) and under `maxBytes`. Pure, like chunkByBytes.
 */
export function chunkMessages(rows: readonly CopiedMessage[], maxBytes = MAX_STATEMENT_JSON_BYTES): string[] {
  const sorted = [...rows].sort((a, b) => a.i - b.i);
  const chunks: string[] = [];
  for (let from = 0; from < sorted.length; ) {
    let to = from + 1;
    while (to < sorted.length && sorted[to]!.i - sorted[from]!.i < SEARCH_BLOCK_SPAN) to++;
    chunks.push(...chunkByBytes(sorted.slice(from, to), maxBytes));
    from = to;
  }
  return chunks;
}

const field = (name: string) => sql.raw(`json_extract(value, '$.${name}')`);
/** True for a chunk's row D1 does not have yet (read before the chunk is inserted). */
const isNew = (chatId: number) => sql`NOT EXISTS (SELECT 1 FROM ${messages} AS had WHERE had.chat_id = ${chatId} AND had.id = ${field("i")})`;

/**
 * The statements of one D1 batch (one transaction, one round trip) for one room:
 * 1. the messages, new and changed, in chunks (chunkMessages), one INSERT per chunk binding a single
 *    JSON parameter (never near D1's 100-parameter limit). A new message's `search_block` is the
 *    chunk's first new id, and that first one's `search_last` the last new id (columns of rows
 *    written anyway; "new" is read before the insert). The rows go in in id order, and when the
 *    block's last new row is in, a trigger (migration 0010) writes the block's ONE search document
 *    (an FTS5 entry is a D1 row written: one per block instead of one per message), its text built
 *    from the rows, never bound as a parameter. On a (chat, id) D1 has, the row is updated only
 *    when it carries a later change, so a retried copy writes nothing (and indexes nothing) and an
 *    older one never wins. An edit or a delete rewrites its block's document (migration 0009's
 *    trigger); a reaction does not touch the index;
 * 2. the read markers that moved, forward only, in chunks like the messages (a large group's
 *    markers can outgrow one statement); a marker D1 already has (or passed) writes no row, so
 *    sending one again after a room restarted costs nothing;
 * 3. which members have an inbox open (see ActivityAnnouncer) and which have a push subscription
 *    (see PushNotices), read in the same transaction: what the room knows of its members beyond
 *    itself comes from this one read per copy, never from a query per message.
 * Membership goes first (before the markers, which need a re-added member's row): each member's
 * current state as the room decided it, joined or left, and the chat's name and settings. The room
 * runs one copy at a time and each carries the state at its start, so D1 ends as the room is,
 * whatever order requests came in. Before all of them, when retention deleted messages in the room,
 * the statements that delete them from D1 (expiryStatements).
 */
export function roomCopier(d1: D1Database, chatId: number) {
  const p = sql.placeholder;
  // The windows see every row of the chunk before any is written (SQLite computes an INSERT's
  // SELECT that reads the table it writes in full first), so all new rows get the same first id.
  const insert = compile<{ rows: string }>(
    d1,
    sql`INSERT INTO ${messages} (chat_id, id, sender_id, content, client_id, created_at, reply_to_id, edited_at, deleted_at, reactions, change_id, attachments, search_block, search_last)
      SELECT ${chatId}, ${field("i")}, ${field("s")}, ${field("c")}, ${field("k")}, ${field("t")},
        ${field("r")}, ${field("e")}, ${field("d")}, ${field("x")}, ${field("v")}, ${field("a")},
        first, CASE WHEN ${field("i")} = first THEN last END
      FROM (SELECT value, min(new) OVER () AS first, max(new) OVER () AS last
        FROM (SELECT value, CASE WHEN ${isNew(chatId)} THEN ${field("i")} END AS new FROM json_each(${p("rows")})))
      -- In id order: the search trigger (migration 0010) indexes a block when its last row is in.
      WHERE true ORDER BY ${field("i")} ON CONFLICT (chat_id, id) DO UPDATE SET content = excluded.content, edited_at = excluded.edited_at,
        deleted_at = excluded.deleted_at, reactions = excluded.reactions, change_id = excluded.change_id, attachments = excluded.attachments
      WHERE coalesce(excluded.change_id, 0) > coalesce(${messages.changeId}, 0)`,
  );
  const markers = compile<{ markers: string }>(
    d1,
    sql`UPDATE ${chatMembers} SET last_read_message_id = moved.r
      FROM (SELECT ${field("u")} AS u, ${field("r")} AS r FROM json_each(${p("markers")})) AS moved
      WHERE ${chatMembers.chatId} = ${chatId} AND ${chatMembers.userId} = moved.u AND moved.r > coalesce(${chatMembers.lastReadMessageId}, 0)`,
  );
  // A user D1 does not have (cannot happen: users are never deleted) is skipped, not a failed batch.
  const joined = compile<{ members: string }>(
    d1,
    sql`INSERT INTO ${chatMembers} (chat_id, user_id, role, joined_at, last_read_message_id)
      SELECT ${chatId}, ${field("u")}, ${field("r")}, ${field("j")}, ${field("l")} FROM json_each(${p("members")})
      WHERE ${field("u")} IN (SELECT ${users.id} FROM ${users})
      ON CONFLICT (chat_id, user_id) DO UPDATE SET role = excluded.role WHERE ${chatMembers.role} != excluded.role`,
  );
  const left = compile<{ members: string }>(
    d1,
    sql`DELETE FROM ${chatMembers} WHERE ${chatMembers.chatId} = ${chatId}
      AND ${chatMembers.userId} IN (SELECT ${field("u")} FROM json_each(${p("members")}))`,
  );
  const chatRow = compile<{ name: string | null; slow: number; retention: number | null }>(
    d1,
    sql`UPDATE ${chats} SET name = ${p("name")}, slow_mode_seconds = ${p("slow")}, retention_seconds = ${p("retention")} WHERE ${chats.id} = ${chatId}`,
  );
  const expiry = expiryStatements(d1, chatId);
  const presence = compile<Record<string, never>>(d1, listenersQuery(chatId));

  /**
   * Runs one copy; resolves with the members whose inbox is open and those with a push subscription at the time it committed and, when
   * `expire` asked for it, how far D1 has now deleted (EXPIRE_ROWS_PER_COPY at most per copy).
   */
  return async function copy(
    rows: readonly CopiedMessage[],
    moved: readonly CopiedMarker[],
    membership: CopiedMembership = { members: [] },
    expire?: CopiedExpiry,
  ): Promise<CopyResult> {
    // First: no row the copy writes is ever one retention deleted (the room no longer has them).
    const statements = expire ? expiry.map((s) => s.bind(expire)) : [];
    statements.push(...chunkMessages(rows).map((chunk) => insert.bind({ rows: chunk })));
    const stillIn = membership.members.filter((m) => m.active).map((m) => ({ u: m.userId, r: m.role, j: m.joinedAt, l: m.lastRead }));
    for (const chunk of chunkByBytes(stillIn)) statements.push(joined.bind({ members: chunk }));
    for (const chunk of chunkByBytes(membership.members.filter((m) => !m.active).map((m) => ({ u: m.userId })))) statements.push(left.bind({ members: chunk }));
    if (membership.chat) statements.push(chatRow.bind({ name: membership.chat.name, slow: membership.chat.slowModeSeconds, retention: membership.chat.retentionSeconds }));
    for (const chunk of chunkByBytes(moved.map((m) => ({ u: m.userId, r: m.lastRead })))) statements.push(markers.bind({ markers: chunk }));
    statements.push(presence.bind({}));
    const results = await d1.batch<ListenerRow>(statements);
    const expired = expire ? (results[expiry.length - 1]!.results[0] as unknown as { through: number }).through : null;
    return { ...toListeners(results.at(-1)!.results), expiredThrough: expired };
  };
}

type ListenerRow = { id: number; open: number; push: number };

/** The chat's members with an inbox open or a push subscription: what every copy reads as it commits. */
function listenersQuery(chatId: number) {
  const subscribed = sql`EXISTS (SELECT 1 FROM ${pushSubscriptions} WHERE ${pushSubscriptions.userId} = ${users.id})`;
  return sql`SELECT ${users.id} AS id, ${users.inboxOpen} AS open, ${subscribed} AS push FROM ${users}
      WHERE (${users.inboxOpen} = 1 OR ${subscribed})
      AND ${users.id} IN (SELECT ${chatMembers.userId} FROM ${chatMembers} WHERE ${chatMembers.chatId} = ${chatId})`;
}

const toListeners = (rows: ListenerRow[]): Pick<CopyResult, "open" | "pushable"> => ({
  open: new Set(rows.filter((r) => r.open).map((r) => r.id)),
  pushable: new Set(rows.filter((r) => r.push).map((r) => r.id)),
});

/** The same read on its own, with nothing to copy: how a room learns who listens before its first copy. */
export async function readListeners(d1: D1Database, chatId: number): Promise<Pick<CopyResult, "open" | "pushable">> {
  const { results } = await compile<Record<string, never>>(d1, listenersQuery(chatId)).bind({}).all<ListenerRow>();
  return toListeners(results);
}

/**
 * Deleting what retention deleted, by key range (never an id list: D1 binds 100 parameters and takes
 * 100 KB per statement), up to EXPIRE_ROWS_PER_COPY messages: `X`, the last of them. The search index
 * holds blocks of messages (migration 0009); a block's document goes with its first message (the
 * delete trigger). A block that straddles `X` keeps messages after it: before the delete, they
 * become a block of their own, named by their first id, with a document of their text (the
 * straddling block's document, which held the deleted messages' words too, goes with its first).
 * The last statement says how far D1 has deleted.
 */
function expiryStatements(d1: D1Database, chatId: number) {
  const p = sql.placeholder;
  const last = sql`(SELECT max(id) FROM (SELECT id FROM ${messages} WHERE chat_id = ${chatId} AND id > ${p("after")} AND id <= ${p("through")}
    ORDER BY id LIMIT ${sql.raw(String(EXPIRE_ROWS_PER_COPY))}))`;
  // The messages after `last` in a block that started at or before it (a block spans at most SEARCH_BLOCK_SPAN ids).
  const rest = sql`chat_id = ${chatId} AND id > ${last} AND id <= ${last} + ${sql.raw(String(SEARCH_BLOCK_SPAN))} AND search_block <= ${last}`;
  const text = sql`group_concat(CASE WHEN deleted_at IS NULL THEN content END, ' ')`;
  return [
    compile<CopiedExpiry>(
      d1,
      sql`INSERT INTO message_search (rowid, content) SELECT ${chatId} * 4294967296 + min(id), ${text} FROM ${messages} WHERE ${rest}
        HAVING count(*) > 0 AND ${text} IS NOT NULL`,
    ),
    compile<CopiedExpiry>(
      d1,
      sql`UPDATE ${messages} SET search_block = b.first, search_last = CASE WHEN ${messages.id} = b.first THEN b.last END
        FROM (SELECT min(id) AS first, max(id) AS last FROM ${messages} WHERE ${rest}) AS b
        WHERE ${messages.chatId} = ${chatId} AND ${messages.id} > ${last} AND ${messages.id} <= ${last} + ${sql.raw(String(SEARCH_BLOCK_SPAN))}
          AND ${messages.searchBlock} <= ${last}`,
    ),
    compile<CopiedExpiry>(d1, sql`DELETE FROM ${messages} WHERE ${messages.chatId} = ${chatId} AND ${messages.id} > ${p("after")} AND ${messages.id} <= ${last}`),
    compile<CopiedExpiry>(
      d1,
      sql`SELECT coalesce((SELECT min(id) - 1 FROM ${messages} WHERE chat_id = ${chatId} AND id > ${p("after")} AND id <= ${p("through")}), ${p("through")}) AS through`,
    ),
  ];
}

export interface RoomStart {
  chat: { id: number; type: "direct" | "group"; name: string | null; createdAt: number; slowModeSeconds: number; retentionSeconds: number | null };
  members: { id: number; username: string; role: Role; lastRead: number | null; joinedAt: number }[];
  /** Who blocks whom among the members. */
  blocks: BlockPair[];
}

/** A chat, its members and the blocks among them as D1 has them (one batch), or null when the chat does not exist. */
export async function loadRoomStart(db: Database, chatId: number): Promise<RoomStart | null> {
  const [chat, members, blocks] = await db.batch([
    db
      .select({ id: chats.id, type: chats.type, name: chats.name, createdAt: chats.createdAt, slowModeSeconds: chats.slowModeSeconds, retentionSeconds: chats.retentionSeconds })
      .from(chats)
      .where(eq(chats.id, chatId)),
    db
      .select({ id: users.id, username: users.username, role: chatMembers.role, lastRead: chatMembers.lastReadMessageId, joinedAt: chatMembers.joinedAt })
      .from(chatMembers)
      .innerJoin(users, eq(users.id, chatMembers.userId))
      .where(eq(chatMembers.chatId, chatId)),
    blocksAmongMembers(db, chatId),
  ]);
  return chat[0] ? { chat: chat[0], members, blocks } : null;
}

/** A page of a chat's messages in D1, oldest first, for a room importing what it does not have. */
export async function messagesForImport(db: Database, chatId: number, afterId: number, limit: number) {
  return db
    .select({
      id: messages.id,
      senderId: messages.senderId,
      senderName: users.username,
      content: messages.content,
      clientId: messages.clientId,
      createdAt: messages.createdAt,
    })
    .from(messages)
    .innerJoin(users, eq(users.id, messages.senderId))
    .where(and(eq(messages.chatId, chatId), gt(messages.id, afterId)))
    .orderBy(asc(messages.id))
    .limit(limit);
}
