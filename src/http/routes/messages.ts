import { Hono, type Context } from "hono";
import { limits } from "../../protocol/limits";
import { changesQuery, chatParams, editMessageBody, historyQuery, messageParams, reactionParams, readMarkerBody, sendMessageBody } from "../../protocol/schemas";
import type { MessageChange } from "../../room/chat-room";
import type { AppEnv } from "../env";
import { changePageAnswer, messageAnswer, messagePageAnswer } from "../openapi/answers";
import { describe, memberOnly, type RouteDoc } from "../openapi/describe";
import { callerOf, existingRoom, unwrap } from "../rooms";
import { validate } from "../validate";

export { unwrap };

/** An edit, delete or reaction change, applied by the room as a socket's would be. */
async function change(c: Context<AppEnv>, chatId: number, what: MessageChange) {
  return unwrap(await (await existingRoom(c, chatId)).changeMessage(callerOf(c), what)).message;
}

const docs = {
  history: {
    summary: "A page of a chat's history",
    description:
      "Always ascending by id; `limit` 1–100, default 50. No cursor: the newest `limit`. `before`: the newest `limit` older than that id. `after`: the oldest `limit` newer than that id (`after=0`: from the first message). With `after`, `hasMore` says whether newer messages exist; otherwise whether older ones do.",
    tag: "messages",
    access: "bearer",
    ok: { 200: ["the page", messagePageAnswer] },
    errors: { bad_request: "invalid cursor or limit, or both `before` and `after`", ...memberOnly },
  },
  send: {
    summary: "Send a message",
    description:
      "`content`: 1–4000 characters (UTF-16 code units) after trimming, stored exactly as sent (may be empty when `attachmentIds` names at least one upload); `attachmentIds`: at most 10 of the caller's own uploads to this chat not yet attached (`POST /api/chats/{chatId}/attachments`); `clientId`: 1–64 characters, for idempotent resends. Answered once the message is in the chat's log; delivered live to the chat's sockets. A resend with the same `clientId` stores nothing new and answers the first message.",
    tag: "messages",
    access: "bearer",
    ok: { 201: ["the stored message", messageAnswer] },
    errors: {
      bad_request: "invalid body, a `replyToId` the chat does not have, or an attachment id that is not the caller's own unattached upload in this chat",
      ...memberOnly,
      rate_limited: "over 10 messages per second per chat (bursts of 20); retry after `Retry-After` seconds",
    },
  },
  edit: {
    summary: "Edit a message",
    description: "The sender only; the content rules of a new message. Announced as `message_edited` to every socket of the chat. A deleted message answers 410 to anyone, before 403; the same content changes nothing (200, `editedAt` unchanged).",
    tag: "messages",
    access: "bearer",
    ok: { 200: ["the message, edited", messageAnswer] },
    errors: { bad_request: "invalid content", not_found: "no such chat or message", forbidden: "not the sender, or not a member", gone: "the message was deleted (answered before `forbidden`)" },
  },
  remove: {
    summary: "Delete a message",
    description: "The sender, or an admin of a group. The message keeps its id and place with no content and no reactions; announced as `message_deleted`. Deleting it again changes nothing (204), the one change a deleted message takes.",
    tag: "messages",
    access: "bearer",
    ok: { 204: ["deleted"] },
    errors: { not_found: "no such chat or message", forbidden: "neither the sender nor a group admin, or not a member" },
  },
  addReaction: {
    summary: "React to a message",
    description: "`emoji`: exactly one emoji, URL-encoded; at most 20 distinct emoji per message. Announced as `reactions_updated`; reacting twice changes nothing. A deleted message answers 410.",
    tag: "messages",
    access: "bearer",
    ok: { 204: ["the caller's reaction is on the message"] },
    errors: { bad_request: "not exactly one emoji, or a 21st distinct emoji", not_found: "no such chat or message", forbidden: "not a member", gone: "the message was deleted" },
  },
  removeReaction: {
    summary: "Take back a reaction",
    description: "Announced as `reactions_updated`; taking back a reaction the caller did not give changes nothing (204), except on a deleted message, which answers 410 to every change but a delete.",
    tag: "messages",
    access: "bearer",
    ok: { 204: ["the caller's reaction is not on the message"] },
    errors: { bad_request: "not exactly one emoji", not_found: "no such chat or message", forbidden: "not a member", gone: "the message was deleted (even when the caller had no such reaction)" },
  },
  changes: {
    summary: "Messages changed after a change id",
    description:
      "Messages whose last change (edit, delete, reaction) is after change `after` (default 0: every changed message), once each in its current state, in the order of its last change, at most 100 per page. `lastChangeId` is the change id of the page's last message, or `after` as given when the page is empty: the next page's `after`. For a client catching up after `replay_done` said `hasMoreChanges`.",
    tag: "messages",
    access: "bearer",
    ok: { 200: ["the page", changePageAnswer] },
    errors: { bad_request: "invalid `after`", ...memberOnly },
  },
  read: {
    summary: "Move the caller's read marker forward",
    description: "Never backward. Every device of the caller gets `chat_read` on its inbox socket.",
    tag: "messages",
    access: "bearer",
    ok: { 204: ["the marker is at least that id"] },
    errors: { bad_request: "invalid body, or an id past the chat's newest message or one retention deleted", ...memberOnly },
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
    const { messages, hasMore, lastChangeId } = unwrap(await (await existingRoom(c, chatId)).history(c.get("user"), { before, after, limit }));
    return c.json({ messages, hasMore, lastChangeId });
  })
  .post("/:chatId/messages", describe(docs.send), validate("param", chatParams), validate("json", sendMessageBody), async (c) => {
    const { chatId } = c.req.valid("param");
    const { content, clientId, replyToId, attachmentIds } = c.req.valid("json");
    const { message } = unwrap(await (await existingRoom(c, chatId)).post(callerOf(c), content, clientId, replyToId, attachmentIds));
    // 201 as the contract says, also for a resend: it is acknowledged with the first message.
    return c.json(message, 201);
  })
  .patch("/:chatId/messages/:messageId", describe(docs.edit), validate("param", messageParams), validate("json", editMessageBody), async (c) => {
    const { chatId, messageId } = c.req.valid("param");
    const { content } = c.req.valid("json");
    return c.json(await change(c, chatId, { kind: "edit", messageId, content }), 200);
  })
  .delete("/:chatId/messages/:messageId", describe(docs.remove), validate("param", messageParams), async (c) => {
    const { chatId, messageId } = c.req.valid("param");
    await change(c, chatId, { kind: "delete", messageId });
    return c.body(null, 204);
  })
  .put("/:chatId/messages/:messageId/reactions/:emoji", describe(docs.addReaction), validate("param", reactionParams), async (c) => {
    const { chatId, messageId, emoji } = c.req.valid("param");
    await change(c, chatId, { kind: "react", messageId, emoji, add: true });
    return c.body(null, 204);
  })
  .delete("/:chatId/messages/:messageId/reactions/:emoji", describe(docs.removeReaction), validate("param", reactionParams), async (c) => {
    const { chatId, messageId, emoji } = c.req.valid("param");
    await change(c, chatId, { kind: "react", messageId, emoji, add: false });
    return c.body(null, 204);
  })
  .get("/:chatId/changes", describe(docs.changes), validate("param", chatParams), validate("query", changesQuery), async (c) => {
    const { chatId } = c.req.valid("param");
    const { after } = c.req.valid("query");
    const { messages, lastChangeId, hasMore } = unwrap(await (await existingRoom(c, chatId)).changes(c.get("user"), after));
    return c.json({ messages, lastChangeId, hasMore });
  })
  .post("/:chatId/read", describe(docs.read), validate("param", chatParams), validate("json", readMarkerBody), async (c) => {
    const { chatId } = c.req.valid("param");
    const { messageId } = c.req.valid("json");
    unwrap(await (await existingRoom(c, chatId)).markRead(c.get("user"), messageId));
    return c.body(null, 204);
  });
