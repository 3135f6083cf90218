import { Hono } from "hono";
import { chatRoom } from "../../objects/stubs";
import { limits } from "../../protocol/limits";
import { chatParams, historyQuery, readMarkerBody, sendMessageBody } from "../../protocol/schemas";
import type { Refusal } from "../../room/answers";
import type { AppEnv } from "../env";
import { ApiError } from "../errors";
import { messageAnswer, messagePageAnswer } from "../openapi/answers";
import { describe, type RouteDoc } from "../openapi/describe";
import { validate } from "../validate";

/** A room's refusal as the contract's error; its value otherwise. */
function unwrap<A extends { ok: boolean }>(answer: A): Extract<A, { ok: true }> {
  if (answer.ok) return answer as Extract<A, { ok: true }>;
  const { code, error, retryAfterSeconds } = answer as unknown as Refusal;
  throw new ApiError(code, error, retryAfterSeconds ? { "Retry-After": String(retryAfterSeconds) } : {});
}

const docs = {
  history: {
    summary: "A page of a chat's history",
    description:
      "Always ascending by id; `limit` 1–100, default 50. No cursor: the newest `limit`. `before`: the newest `limit` older than that id. `after`: the oldest `limit` newer than that id (`after=0`: from the first message). With `after`, `hasMore` says whether newer messages exist; otherwise whether older ones do.",
    tag: "messages",
    access: "bearer",
    ok: { 200: ["the page", messagePageAnswer] },
    errors: { bad_request: "invalid cursor or limit, or both `before` and `after`", not_found: "no such chat", forbidden: "the caller is not a member of the chat" },
  },
  send: {
    summary: "Send a message",
    description:
      "`content`: 1–4000 characters after trimming, stored exactly as sent; `clientId`: 1–64 characters, for idempotent resends. Answered once the message is in the chat's log; delivered live to the chat's sockets. A resend with the same `clientId` stores nothing new and answers the first message.",
    tag: "messages",
    access: "bearer",
    ok: { 201: ["the stored message", messageAnswer] },
    errors: {
      not_found: "no such chat",
      forbidden: "the caller is not a member of the chat",
      rate_limited: "over 10 messages per second per chat (bursts of 20); retry after `Retry-After` seconds",
    },
  },
  read: {
    summary: "Move the caller's read marker forward",
    description: "Never backward. Every device of the caller gets `chat_read` on its inbox socket.",
    tag: "messages",
    access: "bearer",
    ok: { 204: ["the marker is at least that id"] },
    errors: { bad_request: "invalid body, or an id the chat does not have", not_found: "no such chat", forbidden: "the caller is not a member of the chat" },
  },
} satisfies Record<string, RouteDoc>;

/**
 * Routes under /api/chats/:chatId that read or write messages. The chat's room answers them all
 * from its own log and member list: a reader always sees their own acknowledged writes.
 */
export const messageRoutes = new Hono<AppEnv>()
  .get("/:chatId/messages", describe(docs.history), validate("param", chatParams), validate("query", historyQuery), async (c) => {
    const { chatId } = c.req.valid("param");
    const { before, after, limit = limits.historyDefaultLimit } = c.req.valid("query");
    const { messages, hasMore, lastChangeId } = unwrap(await chatRoom(c.env, chatId).history(c.var.user, { before, after, limit }));
    return c.json({ messages, hasMore, lastChangeId });
  })
  .post("/:chatId/messages", describe(docs.send), validate("param", chatParams), validate("json", sendMessageBody), async (c) => {
    const { chatId } = c.req.valid("param");
    const { content, clientId } = c.req.valid("json");
    const { message } = unwrap(await chatRoom(c.env, chatId).post(c.var.user, content, clientId));
    // 201 as the contract says, also for a resend: it is acknowledged with the first message.
    return c.json(message, 201);
  })
  .post("/:chatId/read", describe(docs.read), validate("param", chatParams), validate("json", readMarkerBody), async (c) => {
    const { chatId } = c.req.valid("param");
    const { messageId } = c.req.valid("json");
    unwrap(await chatRoom(c.env, chatId).markRead(c.var.user, messageId));
    return c.body(null, 204);
  });
