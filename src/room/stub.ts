import type { ChatRoom } from "./chat-room";

/** The Durable Object that owns a chat: one per chat id, anywhere in the world. */
export function chatRoom(env: Env, chatId: number): DurableObjectStub<ChatRoom> {
  const ns = env.CHAT_ROOM as DurableObjectNamespace<ChatRoom>;
  return ns.get(ns.idFromName(String(chatId)));
}
