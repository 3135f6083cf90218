/** How the Worker and the objects reach each other: one object per chat, one per user, by name. */
import type { ChatRoom } from "../room/chat-room";
import type { InboxRoom } from "../inbox/inbox-room";

export function chatRoom(env: Env, chatId: number): DurableObjectStub<ChatRoom> {
  const ns = env.CHAT_ROOM as DurableObjectNamespace<ChatRoom>;
  return ns.get(ns.idFromName(String(chatId)));
}

export function inboxOf(env: Env, userId: number): DurableObjectStub<InboxRoom> {
  const ns = env.INBOX as DurableObjectNamespace<InboxRoom>;
  return ns.get(ns.idFromName(String(userId)));
}
