/** Chats and memberships. A chat object is assembled from three queries sent as one D1 batch. */
import { and, asc, desc, eq, inArray, sql, type SQL } from "drizzle-orm";
import { alias } from "drizzle-orm/sqlite-core";
import type { Chat, ChatMember, Role } from "../protocol/models";
import { toIso, type Database } from "./client";
import { replyPreview, toMessage } from "../protocol/stored";
import { blocks, chatMembers, chats, messages, users } from "./schema";

/** The message a chat's last message replies to, and its sender, in the chat-list query. */
const original = alias(messages, "original");
const originalSender = alias(users, "original_sender");

/** The chats a viewer belongs to, or just one of them. */
function viewerChatIds(db: Database, viewerId: number, chatId?: number) {
  const where = chatId === undefined
    ? eq(chatMembers.userId, viewerId)
    : and(eq(chatMembers.userId, viewerId), eq(chatMembers.chatId, chatId));
  return db.select({ id: chatMembers.chatId }).from(chatMembers).where(where);
}

/**
 * The viewer's chats (newest activity first) with members, last message, read marker and unread
 * count, from D1's copy of the rooms' logs (at most one copy delay behind the rooms). Unread =
 * messages from others after the viewer's marker, not from a user the viewer blocks.
 */
export async function loadChats(db: Database, viewerId: number, chatId?: number): Promise<Chat[]> {
  const ids = viewerChatIds(db, viewerId, chatId);
  const unread = sql<number>`(SELECT count(*) FROM ${messages} WHERE ${messages.chatId} = ${chats.id}
    AND ${messages.id} > coalesce(${chatMembers.lastReadMessageId}, 0) AND ${messages.senderId} != ${viewerId}
    AND ${messages.deletedAt} IS NULL
    AND ${messages.senderId} NOT IN (SELECT ${blocks.blockedId} FROM ${blocks} WHERE ${blocks.blockerId} = ${viewerId}))`;
  const newestId = sql`(SELECT max(m.id) FROM ${messages} m WHERE m.chat_id = ${chats.id})`;
  // Creation or latest message time: the chat list's sort key.
  const lastActivity = sql<number>`coalesce((SELECT m.created_at FROM ${messages} m WHERE m.chat_id = ${chats.id} AND m.id = ${newestId}), ${chats.createdAt})`;
  const [chatRows, memberRows, lastRows] = await db.batch([
    db
      .select({ chat: chats, lastRead: chatMembers.lastReadMessageId, unread })
      .from(chatMembers)
      .innerJoin(chats, eq(chats.id, chatMembers.chatId))
      .where(and(eq(chatMembers.userId, viewerId), inArray(chatMembers.chatId, ids)))
      // On a tie (the same millisecond), a message counts as more recent than a chat's creation.
      .orderBy(desc(lastActivity), desc(sql`${newestId} IS NOT NULL`), desc(chats.id)),
    db
      .select({ chatId: chatMembers.chatId, id: users.id, username: users.username, role: chatMembers.role, lastReadMessageId: chatMembers.lastReadMessageId })
      .from(chatMembers)
      .innerJoin(users, eq(users.id, chatMembers.userId))
      .where(inArray(chatMembers.chatId, ids))
      .orderBy(asc(chatMembers.joinedAt), asc(users.id)),
    db
      // Aliased names: D1 returns rows keyed by column name, and the original's columns share the message's.
      .select({
        message: messages,
        username: users.username,
        original: {
          id: sql<number>`${original.id}`.as("original_id"),
          senderId: sql<number>`${original.senderId}`.as("original_sender_id"),
          content: sql<string>`${original.content}`.as("original_content"),
          deletedAt: sql<number | null>`${original.deletedAt}`.as("original_deleted_at"),
        },
        originalSender: sql<string | null>`${originalSender.username}`.as("original_sender_name"),
      })
      .from(chats)
      .innerJoin(messages, and(eq(messages.chatId, chats.id), eq(messages.id, newestId)))
      .innerJoin(users, eq(users.id, messages.senderId))
      .leftJoin(original, and(eq(original.chatId, messages.chatId), eq(original.id, messages.replyToId)))
      .leftJoin(originalSender, eq(originalSender.id, original.senderId))
      .where(inArray(chats.id, ids)),
  ]);
  const membersOf = new Map<number, ChatMember[]>();
  for (const { chatId: c, ...member } of memberRows) {
    let list = membersOf.get(c);
    if (!list) membersOf.set(c, (list = []));
    list.push(member);
  }
  const lastOf = new Map(
    lastRows.map((r) => [
      r.message.chatId,
      toMessage(r.message, r.message.chatId, r.username, r.original.id !== null && r.originalSender !== null ? replyPreview(r.original, r.originalSender) : null),
    ]),
  );
  return chatRows.map(({ chat, lastRead, unread: count }) => ({
    id: chat.id,
    type: chat.type,
    name: chat.name,
    createdAt: toIso(chat.createdAt),
    members: membersOf.get(chat.id) ?? [],
    lastMessage: lastOf.get(chat.id) ?? null,
    lastReadMessageId: lastRead,
    unreadCount: Number(count),
    slowModeSeconds: chat.slowModeSeconds,
    retentionSeconds: chat.retentionSeconds,
    // Mutes are the rooms' alone (src/room/log/schema.ts); this serves chats just created, never muted.
    muted: false,
  }));
}

export async function loadChat(db: Database, viewerId: number, chatId: number): Promise<Chat | null> {
  const [chat] = await loadChats(db, viewerId, chatId);
  return chat ?? null;
}

/** What the caller may do in a chat: `null` when the chat does not exist, role `null` when not a member. */
export async function findAccess(db: Database, chatId: number, userId: number) {
  const [row] = await db
    .select({ type: chats.type, role: chatMembers.role })
    .from(chats)
    .leftJoin(chatMembers, and(eq(chatMembers.chatId, chats.id), eq(chatMembers.userId, userId)))
    .where(eq(chats.id, chatId))
    .limit(1);
  return row ?? null;
}

/** Whether a chat with this id exists (chats are never deleted). */
export async function chatExists(db: Database, chatId: number): Promise<boolean> {
  const [row] = await db.select({ id: chats.id }).from(chats).where(eq(chats.id, chatId)).limit(1);
  return row !== undefined;
}

export const directKey = (a: number, b: number) => (a < b ? `${a}:${b}` : `${b}:${a}`);

/** Creates the direct chat of a pair, or finds the one they have. */
export async function openDirectChat(db: Database, me: number, other: number): Promise<{ chatId: number; created: boolean }> {
  const key = directKey(me, other);
  const now = Date.now();
  const [inserted] = await db.batch([
    db
      .insert(chats)
      .values({ type: "direct", directKey: key, createdAt: now })
      .onConflictDoNothing({ target: chats.directKey })
      .returning({ id: chats.id }),
    // Same transaction. For a pair that already had a chat both rows exist, so this adds nothing.
    db
      .insert(chatMembers)
      .select(
        membersFrom(db, sql`(SELECT ${chats.id} FROM ${chats} WHERE ${chats.directKey} = ${key})`, "member", now)
          .where(inArray(users.id, [me, other])),
      )
      .onConflictDoNothing(),
  ]);
  if (inserted[0]) return { chatId: inserted[0].id, created: true };
  const [existing] = await db.select({ id: chats.id }).from(chats).where(eq(chats.directKey, key));
  return { chatId: existing!.id, created: false };
}

/** Users among `ids` that exist. The list travels as one JSON parameter (D1 allows 100 per query). */
export async function existingUserIds(db: Database, ids: number[]): Promise<Set<number>> {
  if (ids.length === 0) return new Set();
  const rows = await db
    .select({ id: users.id })
    .from(users)
    .where(sql`${users.id} IN (SELECT value FROM json_each(${JSON.stringify(ids)}))`);
  return new Set(rows.map((r) => r.id));
}

const newestChat = sql<number>`(SELECT max(${chats.id}) FROM ${chats})`;

/** Rows for chat_members, one per selected user, for INSERT ... SELECT inside a batch. */
function membersFrom(db: Database, chatId: SQL<number>, role: Role, joinedAt: number) {
  return db
    .select({
      chatId: sql<number>`${chatId}`.as("chat_id"),
      userId: users.id,
      role: sql<Role>`${role}`.as("role"),
      joinedAt: sql<number>`${joinedAt}`.as("joined_at"),
      lastReadMessageId: sql<number | null>`NULL`.as("last_read_message_id"),
    })
    .from(users)
    .$dynamic();
}

export async function createGroupChat(db: Database, creator: number, name: string, memberIds: number[]): Promise<number> {
  const now = Date.now();
  const others = [...new Set(memberIds)].filter((id) => id !== creator);
  const [[chat]] = await db.batch([
    db.insert(chats).values({ type: "group", name, createdAt: now }).returning({ id: chats.id }),
    // D1 runs a batch as one transaction with no other writer, so max(id) is the chat just made.
    db.insert(chatMembers).select(membersFrom(db, newestChat, "admin", now).where(eq(users.id, creator))),
    // Later members join a millisecond after the creator so "longest-standing" is well defined.
    db
      .insert(chatMembers)
      .select(membersFrom(db, newestChat, "member", now + 1).where(sql`${users.id} IN (SELECT value FROM json_each(${JSON.stringify(others)}))`)),
  ]);
  return chat!.id;
}

/** Every chat the user belongs to: where their sockets may be open. */
export async function chatIdsOf(db: Database, userId: number): Promise<number[]> {
  return (await viewerChatIds(db, userId)).map((row) => row.id);
}
