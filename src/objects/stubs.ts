/**
 * How the Worker and the objects reach each other: one object per chat, one per user, each named
 * after its id. The classes' types come with the bindings (`wrangler types`), so this module needs
 * nothing from the folders above it.
 */
export const chatRoom = (env: Env, chatId: number) => env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(String(chatId)));

export const inboxOf = (env: Env, userId: number) => env.INBOX.get(env.INBOX.idFromName(String(userId)));
