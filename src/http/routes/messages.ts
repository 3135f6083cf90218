import { Hono } from "hono";
import { markRead } from "../../db/chats";
import { listMessages } from "../../db/messages";
import { limits } from "../../protocol/limits";
import { chatParams, historyQuery, readMarkerBody, sendMessageBody } from "../../protocol/schemas";
import { announceRead } from "../../inbox/notify";
import { chatRoom } from "../../room/stub";
import { requireMember } from "../access";
import type { AppEnv } from "../env";
import { ApiError, badRequest } from "../errors";
import { validate } from "../validate";

/** Routes under /api/chats/:chatId that read or write messages. */
export const messageRoutes = new Hono<AppEnv>()
  .get("/:chatId/messages", validate("param", chatParams), validate("query", historyQuery), async (c) => {
    const { chatId } = c.req.valid("param");
    const { before, after, limit = limits.historyDefaultLimit } = c.req.valid("query");
    await requireMember(c, chatId);
    return c.json(await listMessages(c.var.db, chatId, { before, after, limit }));
  })
  .post("/:chatId/messages", validate("param", chatParams), validate("json", sendMessageBody), async (c) => {
    const { chatId } = c.req.valid("param");
    const { content, clientId } = c.req.valid("json");
    await requireMember(c, chatId);
    // Through the room, so sockets see it live and in the same order as socket sends.
    const result = await chatRoom(c.env, chatId).post(chatId, c.var.user, content, clientId);
    if (!result.ok) {
      const headers: Record<string, string> = result.retryAfterSeconds ? { "Retry-After": String(result.retryAfterSeconds) } : {};
      throw new ApiError(result.code, result.error, headers);
    }
    // 201 as the contract says, also for a resend: it is acknowledged with the first message.
    return c.json(result.message, 201);
  })
  .post("/:chatId/read", validate("param", chatParams), validate("json", readMarkerBody), async (c) => {
    const { chatId } = c.req.valid("param");
    const { messageId } = c.req.valid("json");
    await requireMember(c, chatId);
    const result = await markRead(c.var.db, chatId, c.var.user.id, messageId);
    if (result === "missing") throw badRequest("no such message in this chat");
    // chat_read means the marker moved; a backward read changes nothing and says nothing.
    if (result === "moved") c.executionCtx.waitUntil(announceRead(c.env, c.var.db, chatId, c.var.user.id));
    return c.body(null, 204);
  });
