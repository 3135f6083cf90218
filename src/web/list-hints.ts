/**
 * What changed in the chat list while a `GET /api/chats` was on its way. The answer is the truth,
 * but not always a newer one: a chat added (by someone else, or by this user) just before the
 * answer was read may reach the page by the inbox before the answer does, and setting the answer
 * as it is would take that chat off again. So the hints that arrived meanwhile are replayed onto
 * it, each only where it is newer than what the answer says.
 */
import type { Chat, Message } from "../protocol/models";

export type ListHint =
  | { kind: "added"; chat: Chat }
  | { kind: "removed"; chatId: number }
  | { kind: "activity"; chatId: number; lastMessage: Message; unreadCount: number }
  | { kind: "read"; chatId: number; lastReadMessageId: number; unreadCount: number }
  | { kind: "muted"; chatId: number; muted: boolean };

/** The answer with the hints (in arrival order) replayed where they are newer than it. */
export function replayHints(answer: Chat[], hints: ListHint[]): Chat[] {
  const chats = new Map(answer.map((c) => [c.id, c]));
  for (const hint of hints) {
    if (hint.kind === "added") {
      // The answer's copy came from the room when the list was read: at least as new as the creation.
      if (!chats.has(hint.chat.id)) chats.set(hint.chat.id, hint.chat);
      continue;
    }
    if (hint.kind === "removed") {
      chats.delete(hint.chatId);
      continue;
    }
    const chat = chats.get(hint.chatId);
    if (!chat) continue;
    // Message ids and read markers only grow within a chat: the larger one is the newer state (the
    // same last message again is that message changed: edited or deleted).
    if (hint.kind === "activity" && hint.lastMessage.id >= (chat.lastMessage?.id ?? 0)) {
      chats.set(chat.id, { ...chat, lastMessage: hint.lastMessage, unreadCount: hint.unreadCount });
    } else if (hint.kind === "read" && hint.lastReadMessageId > (chat.lastReadMessageId ?? 0)) {
      chats.set(chat.id, { ...chat, lastReadMessageId: hint.lastReadMessageId, unreadCount: hint.unreadCount });
    } else if (hint.kind === "muted") {
      // The user's own change, answered before the page recorded it: never older than the answer.
      chats.set(chat.id, { ...chat, muted: hint.muted });
    }
  }
  return [...chats.values()];
}
