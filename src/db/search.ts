/**
 * Message search over D1's copy of every chat: the contentless FTS5 table `message_search` (migration
 * 0008), one document per block of messages copied together (0009, src/db/room-copy.ts).
 */
import { sql } from "drizzle-orm";
import type { SearchCursor } from "../protocol/search";
import type { Message } from "../protocol/models";
import type { Database } from "./client";
import { SEARCH_BLOCK_SPAN } from "./room-copy";
import { matchesTerms, type MatchTerms } from "./search-text";
import { replyPreview, toMessage, type StoredAttachment, type StoredReaction } from "../protocol/stored";

export interface SearchOptions {
  /** From `searchTerms` (one with words): the FTS5 expression, and the same query to check each candidate message alone. */
  terms: { match: string; matcher: MatchTerms };
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
 * Candidate messages the first statement reads: enough for a page in one go unless most are not
 * matches. Each further statement reads 4 times more: every statement reads all the matching blocks'
 * messages again to sort them, so few statements matter more than few rows sent to the Worker.
 */
export const CANDIDATES_PER_READ = 500;
const READ_GROWTH = 4;
/** At most this many candidates per statement (up to ~4,000 characters each): a bound on the Worker's memory. */
const CANDIDATES_MAX_READ = 8000;

/**
 * The newest `limit + 1` messages matching, in the chats the viewer is a member of now (D1's
 * `chat_members`), strictly older than `before`: newest first by (time, chat, id).
 *
 * The index holds blocks of messages (migration 0009: rowid chat_id * 2^32 + the block's first id),
 * so MATCH finds blocks; their messages are read by key range (from the block's first id to the
 * `search_last` its first message holds; `search_block` tells a block's own from any other),
 * sorted, and each is checked alone against the query (`matchesTerms`): a block matches when its
 * words are spread over several messages, a message only when it has them all. Candidates come in
 * growing batches (from CANDIDATES_PER_READ), each after the last one's key, until the page is full
 * or there are none left, so a common word reads one batch, not every matching block's messages
 * into the Worker.
 */
export async function findMessages(db: Database, viewerId: number, options: SearchOptions): Promise<Message[]> {
  const { terms: { match, matcher }, chatId, limit, before } = options;
  const rows: FoundRow[] = [];
  let after = before;
  for (let size = CANDIDATES_PER_READ; ; size = Math.min(size * READ_GROWTH, CANDIDATES_MAX_READ)) {
    const batch = await candidates(db, viewerId, match, chatId, after, size);
    rows.push(...batch.filter((m) => matchesTerms(m.content, matcher)));
    if (rows.length > limit || batch.length < size) break;
    const last = batch.at(-1)!;
    after = { createdAt: last.created_at, chatId: last.chat_id, messageId: last.id };
  }
  return rows.slice(0, limit + 1).map(toFound);
}

/**
 * The next `size` messages of the blocks matching, newest first, in the viewer's chats, whole.
 * The index drives the query (CROSS JOIN keeps it the outer loop): a chat's rowids are one
 * contiguous range, so `chatId` narrows the index scan itself. The candidates are chosen first,
 * sorting only keys and times; only they are then read whole and joined to their senders and reply
 * previews (so a page that the first batch fills is one statement).
 */
function candidates(db: Database, viewerId: number, match: string, chatId: number | undefined, before: SearchCursor | undefined, size: number) {
  const inChat = chatId === undefined ? sql`` : sql`AND rowid BETWEEN ${chatId} * 4294967296 AND ${chatId} * 4294967296 + 4294967295`;
  const older = before ? sql`AND (m.created_at, m.chat_id, m.id) < (${before.createdAt}, ${before.chatId}, ${before.messageId})` : sql``;
  return db.all<FoundRow>(sql`
    SELECT m.chat_id, m.id, m.sender_id, u.username AS sender_name, m.content, m.created_at, m.reply_to_id,
      m.edited_at, m.deleted_at, m.reactions, m.attachments,
      o.id AS original_id, o.sender_id AS original_sender_id, ou.username AS original_sender_name,
      o.content AS original_content, o.deleted_at AS original_deleted_at
    FROM (
      SELECT m.chat_id, m.id, m.created_at
      FROM (SELECT rowid >> 32 AS chat, rowid & 4294967295 AS first FROM message_search WHERE message_search MATCH ${match} ${inChat}) AS hit
      CROSS JOIN messages f ON f.chat_id = hit.chat AND f.id = hit.first
      CROSS JOIN messages m ON m.chat_id = hit.chat AND m.id BETWEEN hit.first AND coalesce(f.search_last, hit.first + ${SEARCH_BLOCK_SPAN - 1})
        AND m.search_block = hit.first
      WHERE hit.chat IN (SELECT chat_id FROM chat_members WHERE user_id = ${viewerId})
        AND m.deleted_at IS NULL ${older}
      ORDER BY m.created_at DESC, m.chat_id DESC, m.id DESC
      LIMIT ${size}
    ) AS page
    CROSS JOIN messages m ON m.chat_id = page.chat_id AND m.id = page.id
    JOIN users u ON u.id = m.sender_id
    LEFT JOIN messages o ON o.chat_id = m.chat_id AND o.id = m.reply_to_id
    LEFT JOIN users ou ON ou.id = o.sender_id
    ORDER BY m.created_at DESC, m.chat_id DESC, m.id DESC`);
}

/** A found row as the contract's message. */
function toFound(r: FoundRow): Message {
  return toMessage(
      {
        id: r.id,
        senderId: r.sender_id,
        content: r.content,
        createdAt: r.created_at,
        editedAt: r.edited_at,
        deletedAt: r.deleted_at,
        reactions: r.reactions === null ? null : (JSON.parse(r.reactions) as StoredReaction[]),
        attachments: r.attachments === null ? null : (JSON.parse(r.attachments) as StoredAttachment[]),
      },
      r.chat_id,
      r.sender_name,
      r.original_id !== null && r.original_sender_name !== null
        ? replyPreview({ id: r.original_id, senderId: r.original_sender_id!, content: r.original_content!, deletedAt: r.original_deleted_at }, r.original_sender_name)
        : null,
  );
}
