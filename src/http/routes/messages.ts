import { Hono } from "hono";
import { chatRoom } from "../../objects/stubs";
import { limits } from "../../protocol/limits";
import { chatParams, historyQuery, readMarkerBody, sendMessageBody } from "../../protocol/schemas";
import type { Refusal } from "../../room/answers";
import type { AppEnv } from "../env";
import { ApiError } from "../errors";
import { validate } from "../validate";

/** A room's refusal as the contract's error; its value otherwise. */
function unwrap<A extends { ok: boolean }>(answer: A): Extract<A, { ok: true }> {
  if (answer.ok) return answer as Extract<A, { ok: true }>;
  const { code, error, retryAfterSeconds } = answer as unknown as Refusal;
  throw new ApiError(code, error, retryAfterSeconds ? { "Retry-After": String(retryAfterSeconds) } : {});
}

/**
 * Routes under /api/chats/:chatId that read or write messages. The chat's room answers them all
 * from its own log and member list: a reader always sees their own acknowledged writes.
 */
export const messageRoutes = new Hono<AppEnv>()
  .get("/:chatId/messages", validate("param", chatParams), validate("query", historyQuery), async (c) => {
    const { chatId } = c.req.valid("param");
    const { before, after, limit = limits.historyDefaultLimit } = c.req.valid("query");
    const { messages, hasMore, lastChangeId } = unwrap(await chatRoom(c.env, chatId).history(c.var.user, { before, after, limit }));
    return c.json({ messages, hasMore, lastChangeId });
  })
  .post("/:chatId/messages", validate("param", chatParams), validate("json", sendMessageBody), async (c) => {
    const { chatId } = c.req.valid("param");
    const { content, clientId } = c.req.valid("json");
    const { message } = unwrap(await chatRoom(c.env, chatId).post(c.var.user, content, clientId));
    // 201 as the contract says, also for a resend: it is acknowledged with the first message.
    return c.json(message, 201);
  })
  .post("/:chatId/read", validate("param", chatParams), validate("json", readMarkerBody), async (c) => {
    const { chatId } = c.req.valid("param");
    const { messageId } = c.req.valid("json");
    unwrap(await chatRoom(c.env, chatId).markRead(c.var.user, messageId));
    return c.body(null, 204);
  });
