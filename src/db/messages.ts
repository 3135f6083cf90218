/** Messages as D1's copy stores them, turned into the contract's shape. */
import type { Message } from "../protocol/models";
import { toIso } from "./client";
import type { MessageRow } from "./schema";

export function toMessage(row: MessageRow, username: string): Message {
  return {
    id: row.id,
    chatId: row.chatId,
    sender: { id: row.senderId, username },
    content: row.content,
    timestamp: toIso(row.createdAt),
    editedAt: null,
    deleted: false,
    reactions: [],
    replyTo: null,
  };
}
