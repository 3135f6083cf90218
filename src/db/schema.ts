/**
 * D1 schema. Times are integer milliseconds since the epoch (ISO strings are made at the edge of
 * the wire). Migrations in `migrations/` are generated from this file by `npm run db:generate`.
 */
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { StoredAttachment, StoredReaction } from "../protocol/stored";

export type { StoredAttachment, StoredReaction };

export const users = sqliteTable(
  "users",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    username: text("username").notNull(),
    /** Lower-cased username: uniqueness and prefix search ignore case. */
    usernameKey: text("username_key").notNull(),
    passwordHash: text("password_hash").notNull(),
    passwordSalt: text("password_salt").notNull(),
    createdAt: integer("created_at").notNull(),
    /** Tokens carry the version they were issued under; bumping it revokes them all. */
    tokenVersion: integer("token_version").notNull().default(0),
    /**
     * Whether the user has an inbox socket open: rooms skip inboxes nobody listens to. A hint kept
     * by the user's InboxRoom: never false while a socket is open, at worst true for a while after
     * the last one went (the next call to that inbox puts it right).
     */
    inboxOpen: integer("inbox_open", { mode: "boolean" }).notNull().default(false),
    /** Whether the user's push notifications carry the message's text (`PATCH /api/push/settings`). */
    pushPreviews: integer("push_previews", { mode: "boolean" }).notNull().default(true),
  },
  (t) => [uniqueIndex("users_username_key").on(t.usernameKey)],
);

/**
 * Where to send a user's push notifications: one row per browser subscription (Web Push, RFC 8030),
 * keyed by its endpoint, which names one browser's subscription at one push service (an endpoint
 * subscribed again by another user moves to them). `tokenVersion` is the session it was made in:
 * logout and a password change end that session, and its subscriptions with it (a row whose version
 * is below the user's is never sent to). Read by the queue consumer (src/push/deliver.ts).
 */
export const pushSubscriptions = sqliteTable(
  "push_subscriptions",
  {
    endpoint: text("endpoint").primaryKey(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /** The browser's P-256 public key and auth secret (base64url), as `PushSubscription.toJSON()` gives them. */
    p256dh: text("p256dh").notNull(),
    auth: text("auth").notNull(),
    /** ms; the push service drops the subscription then (null: never). */
    expiresAt: integer("expires_at"),
    tokenVersion: integer("token_version").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("push_subscriptions_user").on(t.userId, t.createdAt)],
);

/**
 * Failed logins per key ("user:<name>" or "ip:<address>") within the current window. Rows whose
 * window ended are deleted, a bounded batch with each failure (src/auth/login-throttle.ts); the index
 * finds them without reading the rest.
 */
export const loginFailures = sqliteTable(
  "login_failures",
  {
    key: text("key").primaryKey(),
    count: integer("count").notNull(),
    windowStart: integer("window_start").notNull(),
  },
  (t) => [index("login_failures_window_start").on(t.windowStart)],
);

export const chats = sqliteTable(
  "chats",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    type: text("type", { enum: ["direct", "group"] }).notNull(),
    name: text("name"),
    /** "minUserId:maxUserId" for direct chats, so a pair has at most one. */
    directKey: text("direct_key"),
    createdAt: integer("created_at").notNull(),
    /** A group's settings as its room decided them (copied behind, like the name). */
    slowModeSeconds: integer("slow_mode_seconds").notNull().default(0),
    retentionSeconds: integer("retention_seconds"),
  },
  (t) => [uniqueIndex("chats_direct_key").on(t.directKey)],
);

export const chatMembers = sqliteTable(
  "chat_members",
  {
    chatId: integer("chat_id")
      .notNull()
      .references(() => chats.id, { onDelete: "cascade" }),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    role: text("role", { enum: ["admin", "member"] }).notNull(),
    joinedAt: integer("joined_at").notNull(),
    lastReadMessageId: integer("last_read_message_id"),
  },
  (t) => [primaryKey({ columns: [t.chatId, t.userId] }), index("chat_members_user").on(t.userId, t.chatId)],
);

/**
 * D1's copy of every chat's messages, filled behind by each chat's room (the room's own storage is
 * the log of record; see src/room/log). Ids are a per-chat sequence, so the key is (chat, id); the
 * copy is written with ON CONFLICT DO NOTHING on it, which makes every retry harmless.
 *
 * In D1 this is a WITHOUT ROWID table (hand-written migration 0005_messages_without_rowid.sql;
 * Drizzle cannot declare it, so this declaration and the snapshot only carry its columns and key):
 * the row is stored in the key's own b-tree, so a copied message is one row written, not the row
 * plus a key index entry. A table rebuilt by a future generated migration must keep WITHOUT ROWID.
 */
export const messages = sqliteTable(
  "messages",
  {
    chatId: integer("chat_id")
      .notNull()
      .references(() => chats.id, { onDelete: "cascade" }),
    id: integer("id").notNull(),
    senderId: integer("sender_id")
      .notNull()
      .references(() => users.id),
    content: text("content").notNull(),
    clientId: text("client_id"),
    createdAt: integer("created_at").notNull(),
    // The message's lifecycle as the room's log has it (src/room/log/schema.ts), copied behind.
    replyToId: integer("reply_to_id"),
    editedAt: integer("edited_at"),
    deletedAt: integer("deleted_at"),
    /** `[{ emoji, userIds }]` as JSON; null for none. */
    reactions: text("reactions", { mode: "json" }).$type<StoredReaction[]>(),
    /** `[{ id, name, size, contentType }]` as JSON; null for none (and once deleted). */
    attachments: text("attachments", { mode: "json" }).$type<StoredAttachment[]>(),
    /** The room's change counter at the last change copied: a copy never overwrites a newer state. */
    changeId: integer("change_id"),
    /**
     * The search block this message is indexed in (migration 0009, src/db/search.ts): the id of the
     * block's first message; its ids lie within SEARCH_BLOCK_SPAN of it. Deliberately not indexed:
     * an index entry would be a D1 row written per message, the cost blocks exist to save.
     */
    searchBlock: integer("search_block"),
    /** On a block's first message only: the id of the block's last, so a block is read by an exact key range. */
    searchLast: integer("search_last"),
  },
  // The key's own index serves history, the newest message and unread counts (which read the
  // sender from the row): a second index would cost a D1 row written per message for nothing else.
  (t) => [primaryKey({ columns: [t.chatId, t.id] })],
);

export type MessageRow = typeof messages.$inferSelect;

/**
 * Who blocks whom: the record (a user's own fact, not a chat's). Rooms keep the pairs among their
 * members (told by the Worker on every change, and reading them when a member joins).
 */
export const blocks = sqliteTable(
  "blocks",
  {
    blockerId: integer("blocker_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    blockedId: integer("blocked_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    createdAt: integer("created_at").notNull(),
  },
  // The key answers "whom does X block"; the index "who blocks X" (a room learning a new member's blocks).
  (t) => [primaryKey({ columns: [t.blockerId, t.blockedId] }), index("blocks_blocked").on(t.blockedId, t.blockerId)],
);
