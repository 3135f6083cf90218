/**
 * Message search over D1's copy of every chat (migration 0008: the contentless FTS5 table
 * `message_search`, its rowid the message's key chat_id * 2^32 + id, kept by triggers on `messages`).
 */
import { sql } from "drizzle-orm";
import type { SearchCursor } from "../protocol/search";
import type { Message } from "../protocol/models";
import type { Database } from "./client";
import { replyPreview, toMessage } from "./messages";
import type { StoredAttachment, StoredReaction } from "./schema";

export interface SearchOptions {
  /** The FTS5 expression (from `searchTerms`). */
  match: string;
  /** Only this chat (the caller's membership is checked before). */
  chatId?: number;
  limit: number;
  before?: SearchCursor;
}

interface FoundRow {
  chat_id: number;
  id: number;
  sender_id: number;
  sender_name: string;
  content: string;
  created_at: number;
  reply_to_id: number | null;
  edited_at: number | null;
  deleted_at: number | null;
  reactions: string | null;
  attachments: string | null;
  original_id: number | null;
  original_sender_id: number | null;
  original_sender_name: string | null;
  original_content: string | null;
  original_deleted_at: number | null;
}

/**
 * The newest `limit + 1` messages matching, in the chats the viewer is a member of now (D1's
 * `chat_members`), strictly older than `before`: newest first by (time, chat, id).
 *
 * The index drives the query (CROSS JOIN keeps it the outer loop): every entry that matches is read
 * from the index, those in the viewer's chats are looked up in `messages` by key, then sorted. A
 * chat's rowids are one contiguous range, so `chatId` narrows the index scan itself. D1 counts
 * about three rows read per match (measured locally: the index entry, the membership probe and the
 * message), plus a few per result.
 */
export async function findMessages(db: Database, viewerId: number, options: SearchOptions): Promise<Message[]> {
  const { match, chatId, limit, before } = options;
  const inChat = chatId === undefined ? sql`` : sql`AND rowid BETWEEN ${chatId} * 4294967296 AND ${chatId} * 4294967296 + 4294967295`;
  const older = before ? sql`AND (m.created_at, m.chat_id, m.id) < (${before.createdAt}, ${before.chatId}, ${before.messageId})` : sql``;
  // The page is chosen first, sorting only keys and times; only its rows are then read whole and
  // joined to their senders and reply previews (D1 bills rows read: joined per match, those cost
  // 1–2 more each, and whole rows make the sort heavier).
  const rows = await db.all<FoundRow>(sql`
    SELECT m.chat_id, m.id, m.sender_id, u.username AS sender_name, m.content, m.created_at, m.reply_to_id,
      m.edited_at, m.deleted_at, m.reactions, m.attachments,
      o.id AS original_id, o.sender_id AS original_sender_id, ou.username AS original_sender_name,
      o.content AS original_content, o.deleted_at AS original_deleted_at
    FROM (
      SELECT m.chat_id, m.id, m.created_at
      FROM (SELECT rowid AS k FROM message_search WHERE message_search MATCH ${match} ${inChat}) AS hit
      CROSS JOIN messages m ON m.chat_id = hit.k >> 32 AND m.id = hit.k & 4294967295
      WHERE (hit.k >> 32) IN (SELECT chat_id FROM chat_members WHERE user_id = ${viewerId})
        AND m.deleted_at IS NULL ${older}
      ORDER BY m.created_at DESC, m.chat_id DESC, m.id DESC
      LIMIT ${limit + 1}
    ) AS page
    CROSS JOIN messages m ON m.chat_id = page.chat_id AND m.id = page.id
    JOIN users u ON u.id = m.sender_id
    LEFT JOIN messages o ON o.chat_id = m.chat_id AND o.id = m.reply_to_id
    LEFT JOIN users ou ON ou.id = o.sender_id
    ORDER BY m.created_at DESC, m.chat_id DESC, m.id DESC`);
  return rows.map((r) =>
    toMessage(
      {
        chatId: r.chat_id,
        id: r.id,
        senderId: r.sender_id,
        content: r.content,
        clientId: null,
        createdAt: r.created_at,
        replyToId: r.reply_to_id,
        editedAt: r.edited_at,
        deletedAt: r.deleted_at,
        reactions: r.reactions === null ? null : (JSON.parse(r.reactions) as StoredReaction[]),
        attachments: r.attachments === null ? null : (JSON.parse(r.attachments) as StoredAttachment[]),
        changeId: null,
      },
      r.sender_name,
      r.original_id !== null && r.original_sender_name !== null
        ? replyPreview({ id: r.original_id, senderId: r.original_sender_id!, content: r.original_content!, deletedAt: r.original_deleted_at }, r.original_sender_name)
        : null,
    ),
  );
}
