/**
 * The room's own storage (the Durable Object's SQLite): its chat's log of record and its members.
 * Acks, history, `since` replays and membership decisions are answered from here; D1 gets a copy
 * behind (`d1_through` marks how far). Migrations in `migrations/room/` are generated from this
 * file by `npm run db:generate` and applied when the object starts.
 */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { StoredAttachment, StoredReaction } from "../../protocol/stored";

/** The chat's messages. `id` is the chat's own sequence: strictly increasing, never reused. */
export const logMessages = sqliteTable(
  "messages",
  {
    id: integer("id").primaryKey(),
    senderId: integer("sender_id").notNull(),
    /** Usernames never change, so the log carries them and no read needs the users table. */
    senderName: text("sender_name").notNull(),
    content: text("content").notNull(),
    clientId: text("client_id"),
    createdAt: integer("created_at").notNull(),
    /** The message this one answers. */
    replyToId: integer("reply_to_id"),
    editedAt: integer("edited_at"),
    /** Set once deleted; the content is then "" and the reactions gone. */
    deletedAt: integer("deleted_at"),
    /** `[{ emoji, userIds }]` as JSON, in the order each emoji was first used; null for none. */
    reactions: text("reactions", { mode: "json" }).$type<StoredReaction[]>(),
    /**
     * The chat's change counter at this message's last edit, delete or reaction change (null while
     * it never changed): `changesSince` replays and the copy to D1 find changed messages by it.
     */
    changeId: integer("change_id"),
    /** `[{ id, name, size, contentType }]` as JSON, null for none: reads need no join. */
    attachments: text("attachments", { mode: "json" }).$type<StoredAttachment[]>(),
  },
  (t) => [
    // No index on (sender, clientId): resends are recognised in memory (./client-ids.ts), which
    // saves a storage row written per message.
    // Partial: a message that never changes adds no index entry, so a send costs no extra row.
    index("messages_change_id").on(t.changeId).where(sql`change_id IS NOT NULL`),
  ],
);

/**
 * Files uploaded to the chat (the bytes are in R2 under the same id). An upload belongs to its
 * uploader until a message of theirs attaches it (`messageId`); one never attached within an hour is
 * deleted by the alarm, and so are the files of a deleted message (`removing` set in the same write
 * as the delete; the row goes once R2 confirmed).
 */
export const logAttachments = sqliteTable(
  "attachments",
  {
    id: text("id").primaryKey(),
    uploaderId: integer("uploader_id").notNull(),
    name: text("name").notNull(),
    size: integer("size").notNull(),
    contentType: text("content_type").notNull(),
    createdAt: integer("created_at").notNull(),
    messageId: integer("message_id"),
    /** Set when the file is to be deleted (its message was deleted): downloads stop at once. */
    removing: integer("removing", { mode: "boolean" }).notNull().default(false),
  },
  (t) => [
    // The alarm's two questions: the oldest unattached upload, and files waiting to be deleted.
    index("attachments_unattached").on(t.createdAt).where(sql`message_id IS NULL`),
    index("attachments_removing").on(t.id).where(sql`removing = 1`),
  ],
);

/**
 * Everyone who is or was a member: the member list of record (D1's `chat_members` is a copy). A
 * removed member keeps a row with `active = false`, so a request decided after the removal sees it.
 */
export const logMembers = sqliteTable(
  "members",
  {
    userId: integer("user_id").primaryKey(),
    username: text("username").notNull(),
    role: text("role", { enum: ["admin", "member"] }).notNull(),
    active: integer("active", { mode: "boolean" }).notNull(),
    /** The read marker: moved by reads and by the member's own messages, never backwards. */
    lastRead: integer("last_read"),
    /**
     * The marker write that last moved `lastRead` (a room-wide counter): a marker whose version is
     * past the `markers_copied_through` meta is copied in the next flush. One meta row per copy, not
     * a row per copied marker (issue 27's cost).
     */
    markerVersion: integer("marker_version").notNull().default(0),
    /** ms; "longest-standing" (who becomes admin when the last one leaves) is the smallest. */
    joinedAt: integer("joined_at").notNull().default(0),
    /** The room's membership counter at this row's last change (join, leave, role). */
    version: integer("version").notNull().default(0),
    /** The version D1's copy has: a larger `version` is copied in the next flush. */
    versionInD1: integer("version_in_d1").notNull().default(0),
    /**
     * The member muted the chat: no push notification for its messages (src/room/push-notices.ts).
     * The room's alone (D1 has no copy: nothing else decides a push); a new membership starts unmuted.
     */
    muted: integer("muted", { mode: "boolean" }).notNull().default(false),
  },
  (t) => [index("members_to_copy").on(t.userId).where(sql`version > version_in_d1`)],
);

/** The chat itself, one row: what the room needs to decide administration (type) and its name. */
export const logChat = sqliteTable("chat", {
  id: integer("id").primaryKey(),
  type: text("type", { enum: ["direct", "group"] }).notNull(),
  name: text("name"),
  /** ms */
  createdAt: integer("created_at").notNull().default(0),
  /** The membership counter at the last rename or change of settings; copied to D1 like a member row. */
  version: integer("version").notNull().default(0),
  versionInD1: integer("version_in_d1").notNull().default(0),
  /** Seconds a member (admins exempt) waits between two messages; 0: off. */
  slowModeSeconds: integer("slow_mode_seconds").notNull().default(0),
  /** Messages older than this many seconds are deleted by the alarm; null: kept. */
  retentionSeconds: integer("retention_seconds"),
});

/**
 * Who blocks whom among the chat's members (D1's `blocks` is the record; the room keeps the pairs of
 * its members so it decides sends and unread counts without a D1 query per message).
 */
export const logBlocks = sqliteTable("blocks", {
  blockerId: integer("blocker_id").notNull(),
  blockedId: integer("blocked_id").notNull(),
}, (t) => [primaryKey({ columns: [t.blockerId, t.blockedId] })]);

/** Members' reports of messages, for the group's admins; one per message and reporter. */
export const logReports = sqliteTable(
  "reports",
  {
    id: integer("id").primaryKey(),
    messageId: integer("message_id").notNull(),
    reporterId: integer("reporter_id").notNull(),
    reporterName: text("reporter_name").notNull(),
    reason: text("reason").notNull(),
    /** ms */
    createdAt: integer("created_at").notNull(),
  },
  // Retention deletes a message's reports with it, by message id range.
  (t) => [uniqueIndex("reports_message_reporter").on(t.messageId, t.reporterId)],
);

/** Small facts about the room, one integer each (see `MetaKey`). */
export const logMeta = sqliteTable("meta", {
  key: text("key").primaryKey(),
  value: integer("value").notNull(),
});

export type LogMessageRow = typeof logMessages.$inferSelect;
export type LogMemberRow = typeof logMembers.$inferSelect;
export type LogChatRow = typeof logChat.$inferSelect;
export type LogAttachmentRow = typeof logAttachments.$inferSelect;
export type LogReportRow = typeof logReports.$inferSelect;
