/** Chats and memberships. A chat object is assembled from three queries sent as one D1 batch. */
import { and, asc, desc, eq, inArray, sql, type SQL } from "drizzle-orm";
import type { Chat, Member, Role, User } from "../protocol/models";
import { toIso, type Database } from "./client";
import { toMessage } from "./messages";
import { chatMembers, chats, messages, users } from "./schema";

/** The chats a viewer belongs to, or just one of them. */
function viewerChatIds(db: Database, viewerId: number, chatId?: number) {
  const where = chatId === undefined
    ? eq(chatMembers.userId, viewerId)
    : and(eq(chatMembers.userId, viewerId), eq(chatMembers.chatId, chatId));
  return db.select({ id: chatMembers.chatId }).from(chatMembers).where(where);
}

/**
 * The viewer's chats (newest activity first) with members, last message, read marker and unread
 * count. Unread = messages from others after the viewer's marker, counted on the (chat_id, id, sender_id) index.
 */
export async function loadChats(db: Database, viewerId: number, chatId?: number): Promise<Chat[]> {
  const ids = viewerChatIds(db, viewerId, chatId);
  const unread = sql<number>`(SELECT count(*) FROM ${messages} WHERE ${messages.chatId} = ${chats.id}
    AND ${messages.id} > coalesce(${chatMembers.lastReadMessageId}, 0) AND ${messages.senderId} != ${viewerId})`;
  const [chatRows, memberRows, lastRows] = await db.batch([
    db
      .select({ chat: chats, lastRead: chatMembers.lastReadMessageId, unread })
      .from(chatMembers)
      .innerJoin(chats, eq(chats.id, chatMembers.chatId))
      .where(and(eq(chatMembers.userId, viewerId), inArray(chatMembers.chatId, ids)))
      .orderBy(desc(chats.lastActivityAt), desc(chats.id)),
    db
      .select({ chatId: chatMembers.chatId, id: users.id, username: users.username, role: chatMembers.role })
      .from(chatMembers)
      .innerJoin(users, eq(users.id, chatMembers.userId))
      .where(inArray(chatMembers.chatId, ids))
      .orderBy(asc(chatMembers.joinedAt), asc(users.id)),
    db
      .select({ message: messages, username: users.username })
      .from(chats)
      .innerJoin(messages, eq(messages.id, chats.lastMessageId))
      .innerJoin(users, eq(users.id, messages.senderId))
      .where(inArray(chats.id, ids)),
  ]);
  const membersOf = new Map<number, Member[]>();
  for (const { chatId: c, ...member } of memberRows) {
    let list = membersOf.get(c);
    if (!list) membersOf.set(c, (list = []));
    list.push(member);
  }
  const lastOf = new Map(lastRows.map((r) => [r.message.chatId, toMessage(r.message, r.username)]));
  return chatRows.map(({ chat, lastRead, unread: count }) => ({
    id: chat.id,
    type: chat.type,
    name: chat.name,
    createdAt: toIso(chat.createdAt),
    members: membersOf.get(chat.id) ?? [],
    lastMessage: lastOf.get(chat.id) ?? null,
    lastReadMessageId: lastRead,
    unreadCount: Number(count),
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

export const directKey = (a: number, b: number) => (a < b ? `${a}:${b}` : `${b}:${a}`);

/** Creates the direct chat of a pair, or finds the one they have. */
export async function openDirectChat(db: Database, me: number, other: number): Promise<{ chatId: number; created: boolean }> {
  const key = directKey(me, other);
  const now = Date.now();
  const [inserted] = await db.batch([
    db
      .insert(chats)
      .values({ type: "direct", directKey: key, createdAt: now, lastActivityAt: now })
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
    db.insert(chats).values({ type: "group", name, createdAt: now, lastActivityAt: now }).returning({ id: chats.id }),
    // D1 runs a batch as one transaction with no other writer, so max(id) is the chat just made.
    db.insert(chatMembers).select(membersFrom(db, newestChat, "admin", now).where(eq(users.id, creator))),
    // Later members join a millisecond after the creator so "longest-standing" is well defined.
    db
      .insert(chatMembers)
      .select(membersFrom(db, newestChat, "member", now + 1).where(sql`${users.id} IN (SELECT value FROM json_each(${JSON.stringify(others)}))`)),
  ]);
  return chat!.id;
}

export async function renameChat(db: Database, chatId: number, name: string): Promise<void> {
  await db.update(chats).set({ name }).where(eq(chats.id, chatId));
}

export async function findMember(db: Database, chatId: number, userId: number): Promise<Member | null> {
  const [row] = await db
    .select({ id: users.id, username: users.username, role: chatMembers.role })
    .from(chatMembers)
    .innerJoin(users, eq(users.id, chatMembers.userId))
    .where(and(eq(chatMembers.chatId, chatId), eq(chatMembers.userId, userId)));
  return row ?? null;
}

/**
 * Adds a member; null when they already were one. Someone who was a member before starts with their
 * marker on their own newest message, as their sending left it: no member ever has a message of
 * their own after their marker (`unreadForOpenInboxes` counts on it).
 */
export async function addMember(db: Database, chatId: number, user: User): Promise<Member | null> {
  const ownNewest = sql<number | null>`(SELECT max(${messages.id}) FROM ${messages}
    WHERE ${messages.chatId} = ${chatId} AND ${messages.senderId} = ${user.id})`;
  const rows = await db
    .insert(chatMembers)
    .values({ chatId, userId: user.id, role: "member", joinedAt: Date.now(), lastReadMessageId: ownNewest })
    .onConflictDoNothing()
    .returning({ role: chatMembers.role });
  return rows[0] ? { ...user, role: rows[0].role } : null;
}

export async function setRole(db: Database, chatId: number, userId: number, role: Role): Promise<void> {
  await db.update(chatMembers).set({ role }).where(and(eq(chatMembers.chatId, chatId), eq(chatMembers.userId, userId)));
}

export async function countAdmins(db: Database, chatId: number): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)` })
    .from(chatMembers)
    .where(and(eq(chatMembers.chatId, chatId), eq(chatMembers.role, "admin")));
  return Number(row?.n ?? 0);
}

/**
 * Removes a member and, in the same transaction, makes the longest-standing remaining member
 * admin when no admin is left. Returns that promoted member, if any.
 */
export async function removeMember(db: Database, chatId: number, userId: number): Promise<Member | null> {
  const successor = db
    .select({ userId: chatMembers.userId })
    .from(chatMembers)
    .where(eq(chatMembers.chatId, chatId))
    .orderBy(asc(chatMembers.joinedAt), asc(chatMembers.userId))
    .limit(1);
  const [, promoted] = await db.batch([
    db.delete(chatMembers).where(and(eq(chatMembers.chatId, chatId), eq(chatMembers.userId, userId))),
    db
      .update(chatMembers)
      .set({ role: "admin" })
      .where(
        and(
          eq(chatMembers.chatId, chatId),
          eq(chatMembers.userId, successor),
          sql`NOT EXISTS (SELECT 1 FROM ${chatMembers} WHERE ${chatMembers.chatId} = ${chatId} AND ${chatMembers.role} = 'admin')`,
        ),
      )
      .returning({ userId: chatMembers.userId }),
  ]);
  const promotedId = promoted[0]?.userId;
  return promotedId === undefined ? null : findMember(db, chatId, promotedId);
}

/** Moves a member's read marker forward only: `missing` when the message is not in the chat. */
export async function markRead(db: Database, chatId: number, userId: number, messageId: number): Promise<"moved" | "unchanged" | "missing"> {
  const [message] = await db
    .select({ id: messages.id })
    .from(messages)
    .where(and(eq(messages.chatId, chatId), eq(messages.id, messageId)));
  if (!message) return "missing";
  const moved = await db
    .update(chatMembers)
    .set({ lastReadMessageId: messageId })
    .where(
      and(
        eq(chatMembers.chatId, chatId),
        eq(chatMembers.userId, userId),
        sql`coalesce(${chatMembers.lastReadMessageId}, 0) < ${messageId}`,
      ),
    )
    .returning({ userId: chatMembers.userId });
  return moved.length > 0 ? "moved" : "unchanged";
}

export async function memberIdsOf(db: Database, chatId: number): Promise<Map<number, Role>> {
  const rows = await db
    .select({ userId: chatMembers.userId, role: chatMembers.role })
    .from(chatMembers)
    .where(eq(chatMembers.chatId, chatId));
  return new Map(rows.map((r) => [r.userId, r.role]));
}


/**
 * The unread count and read marker of every member of a chat whose inbox is open, for inbox
 * activity: one query, one pass over the messages after the oldest of their markers.
 *
 * A member's unread count is the number of messages after their marker: the writer moves each
 * sender's marker to their newest message in the batch that stores it, and `addMember` starts a
 * returning member's marker on their own newest, so no member has a message of their own after
 * their marker, and "from other members" needs no per-member filter. Markers and
 * messages are merged in one ordered list, newest first, and a running count of messages gives each
 * marker the number of messages after it — O((messages + members) log) instead of a count per member
 * (O(members × unread)), which held the D1 object for tens of ms per flush in a 200-member chat.
 */
export async function unreadForOpenInboxes(
  db: Database,
  chatId: number,
): Promise<{ userId: number; unreadCount: number; lastReadMessageId: number | null }[]> {
  const rows = await db.all<{ user_id: number; last_read: number | null; unread: number }>(sql`
    WITH listeners AS (
      SELECT m.user_id, m.last_read_message_id AS last_read, coalesce(m.last_read_message_id, 0) AS marker
      FROM ${chatMembers} m JOIN ${users} u ON u.id = m.user_id AND u.inbox_open = 1
      WHERE m.chat_id = ${chatId}
    ),
    points AS (
      SELECT id AS pos, NULL AS user_id, NULL AS last_read FROM ${messages}
      WHERE chat_id = ${chatId} AND id > (SELECT min(marker) FROM listeners)
      UNION ALL
      SELECT marker, user_id, last_read FROM listeners
    )
    SELECT user_id, last_read, unread FROM (
      SELECT user_id, last_read,
        sum(user_id IS NULL) OVER (ORDER BY pos DESC, user_id IS NULL ROWS UNBOUNDED PRECEDING) AS unread
      FROM points
    ) WHERE user_id IS NOT NULL`);
  return rows.map((r) => ({ userId: r.user_id, unreadCount: Number(r.unread), lastReadMessageId: r.last_read }));
}
