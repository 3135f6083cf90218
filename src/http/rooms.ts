import type { Context } from "hono";
import { chatExists } from "../db/chats";
import { isUnavailable } from "../db/deadline";
import { chatRoom } from "../objects/stubs";
import type { AppEnv } from "./env";
import type { Caller } from "../objects/handshake";
import type { Refusal } from "../objects/answers";
import { ApiError, notFound } from "./errors";
import { knownChats } from "./known-chats";

/**
 * The room of chat `chatId`, reached only if the chat exists: 404 otherwise, and no object is
 * touched (see known-chats.ts). While D1 cannot say, the room is asked: it answers from its own
 * storage for a chat it already holds.
 */
export async function existingRoom(c: Context<AppEnv>, chatId: number, missing = "chat not found") {
  // A replica has every chat created before the caller's bookmark; one created by another a moment
  // ago may not be there yet, so the primary confirms a "missing" before it is answered 404.
  const exists = async () => (await chatExists(c.get("db"), chatId)) || chatExists(c.get("primary"), chatId);
  if ((await knownChats.check(chatId, exists, isUnavailable)) === "missing") throw notFound(missing);
  return chatRoom(c.env, chatId);
}

/** Who the Worker verified, as the room takes it: the user and the token they came with. */
export const callerOf = (c: Context<AppEnv>): Caller => ({ user: c.get("user"), session: c.get("session") });

/** A room's refusal as the contract's error; its value otherwise. */
export function unwrap<A extends { ok: boolean }>(answer: A): Extract<A, { ok: true }> {
  if (answer.ok) return answer as Extract<A, { ok: true }>;
  const { code, error, retryAfterSeconds } = answer as unknown as Refusal;
  throw new ApiError(code, error, retryAfterSeconds ? { "Retry-After": String(retryAfterSeconds) } : {});
}
