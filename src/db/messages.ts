/** Messages as D1's copy stores them, turned into the contract's shape. */
import { attachmentPath, type Attachment, type Message, type Reaction, type ReplyPreview } from "../protocol/models";
import { excerptOf } from "../protocol/replies";
import { toIso } from "./client";
import type { MessageRow, StoredAttachment, StoredReaction } from "./schema";

/** Stored reactions as the wire shows them. */
export const toReactions = (stored: StoredReaction[] | null): Reaction[] =>
  (stored ?? []).map(({ emoji, userIds }) => ({ emoji, count: userIds.length, userIds }));

/** Stored attachments as the wire shows them. */
export const toAttachments = (stored: StoredAttachment[] | null): Attachment[] => (stored ?? []).map((a) => ({ ...a, url: attachmentPath(a.id) }));

/** What a reply shows of its original, from the original's row (null: not in D1's copy yet). */
export function replyPreview(original: Pick<MessageRow, "id" | "senderId" | "content" | "deletedAt">, username: string): ReplyPreview {
  return {
    id: original.id,
    sender: { id: original.senderId, username },
    excerpt: original.deletedAt === null ? excerptOf(original.content) : "",
  };
}

export function toMessage(row: MessageRow, username: string, replyTo: ReplyPreview | null = null): Message {
  return {
    id: row.id,
    chatId: row.chatId,
    sender: { id: row.senderId, username },
    content: row.content,
    timestamp: toIso(row.createdAt),
    editedAt: row.editedAt === null ? null : toIso(row.editedAt),
    deleted: row.deletedAt !== null,
    reactions: toReactions(row.reactions),
    replyTo,
    attachments: toAttachments(row.attachments),
  };
}
