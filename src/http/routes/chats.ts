import { Hono, type Context } from "hono";
import { createGroupChat, existingUserIds, loadChat, openDirectChat } from "../../db/chats";
import { inboxOf } from "../../objects/stubs";
import { findUser } from "../../db/users";
import { addMemberBody, chatParams, createChatBody, memberParams, updateChatBody, updateMemberBody } from "../../protocol/schemas";
import { blockersAmong } from "../../db/blocks";
import { ErrorCode } from "../../protocol/errors";
import { limits } from "../../protocol/limits";
import { announceChatAdded, announceChatRemoved, tellMembership } from "../../inbox/notify";
import type { Administered, Administration } from "../../room/administration";
import type { Chat } from "../../protocol/models";
import type { AppEnv } from "../env";
import { ApiError, badRequest, notFound } from "../errors";
import { knownChats } from "../known-chats";
import { callerOf, existingRoom, unwrap } from "../rooms";
import { chatAnswer, chatListAnswer, memberAnswer } from "../openapi/answers";
import { describe, type RouteDoc } from "../openapi/describe";
import { validate } from "../validate";

const notMember = "the caller is not a member of the chat";
const notAdmin = "the caller is not a member of the chat, or not an admin of the group";
const noChat = "no such chat";

const docs = {
  create: {
    summary: "Open a direct chat or create a group",
    description:
      "A direct chat that already exists between the two answers 200 with that chat. A group's `name` is 1–100 characters, not only white space; its creator is its admin. `memberIds` is optional (default none), at most 1000; the creator's own id and repeats are ignored.",
    tag: "chats",
    access: "bearer",
    ok: { 201: ["the new chat", chatAnswer], 200: ["the direct chat the two already had", chatAnswer] },
    errors: {
      bad_request: "invalid body, or a direct chat with oneself",
      not_found: "a user named in the body does not exist",
      blocked: "the other user (or a user in `memberIds`) blocks the caller",
    },
  },
  list: { summary: "The caller's chats", tag: "chats", access: "bearer", ok: { 200: ["most recent activity first", chatListAnswer] } },
  get: {
    summary: "One chat",
    tag: "chats",
    access: "bearer",
    ok: { 200: ["the chat", chatAnswer] },
    errors: { not_found: noChat, forbidden: notMember },
  },
  update: {
    summary: "Rename a group, or change its slow mode and retention",
    description:
      "Any of `name` (1–100 characters, not only white space), `slowModeSeconds` (0–3600; 0: off) and `retentionSeconds` (null: keep messages; or 60 s to ten 365-day years), at least one. Messages older than `retentionSeconds` are deleted everywhere within a minute of expiring.",
    tag: "members",
    access: "bearer",
    ok: { 200: ["the chat as it is now", chatAnswer] },
    errors: { bad_request: "invalid body (a retention under the minimum included), or a direct chat", not_found: noChat, forbidden: notAdmin },
  },
  addMember: {
    summary: "Add a member to a group",
    tag: "members",
    access: "bearer",
    ok: { 201: ["the new member", memberAnswer] },
    errors: { bad_request: "invalid body, or a direct chat", not_found: "no such chat or user", forbidden: notAdmin, conflict: "already a member", blocked: "the user blocks the caller" },
  },
  setRole: {
    summary: "Change a member's role",
    description: "A group always has an admin: demoting the last one is 400. Setting the role a member already has answers 200.",
    tag: "members",
    access: "bearer",
    ok: { 200: ["the member with the new role", memberAnswer] },
    errors: { bad_request: "invalid role, a direct chat, or the last admin stepping down", not_found: "no such chat, or not a member", forbidden: notAdmin },
  },
  removeMember: {
    summary: "Remove a member, or leave",
    description: "Any member may remove themself. When the last admin leaves, the longest-standing remaining member becomes admin. The removed member's sockets on the chat close with 4003.",
    tag: "members",
    access: "bearer",
    ok: { 204: ["removed"] },
    errors: { bad_request: "a direct chat (leaving one included)", not_found: "no such chat, or not a member", forbidden: "the caller is not a member, or neither an admin nor removing themself" },
  },
} satisfies Record<string, RouteDoc>;

export const chatRoutes = new Hono<AppEnv>()
  .post("/", describe(docs.create), validate("json", createChatBody), async (c) => {
    const body = c.req.valid("json");
    const me = c.get("user").id;
    // On the primary: the users named may have registered a moment ago, and the chat is read back
    // right after it is written.
    const db = c.get("primary");
    let chatId: number;
    let created = true;
    if (body.type === "direct") {
      if (body.userId === me) throw badRequest("a direct chat needs another user");
      if (!(await findUser(db, body.userId))) throw notFound(`user ${body.userId} not found`);
      // A concurrent block may land just after this check: the room still refuses every send (DECISIONS.md, "Blocks").
      if ((await blockersAmong(db, me, [body.userId])).length > 0) throw blockedBy("that user");
      ({ chatId, created } = await openDirectChat(db, me, body.userId));
    } else {
      const found = await existingUserIds(db, body.memberIds);
      const missing = body.memberIds.find((id) => !found.has(id));
      if (missing !== undefined) throw notFound(`user ${missing} not found`);
      const [blocker] = await blockersAmong(db, me, body.memberIds);
      if (blocker !== undefined) throw blockedBy(`user ${blocker}`);
      chatId = await createGroupChat(db, me, body.name, body.memberIds);
    }
    knownChats.add(chatId);
    // A direct chat the two already had comes from its room: the caller may have muted it (the room's alone).
    if (!created) return c.json(await chatAsSeenBy(c, chatId), 200);
    const chat = (await loadChat(db, me, chatId))!;
    const others = chat.members.map((m) => m.id).filter((id) => id !== me);
    await tellMembership(c.env, [me], chatId, true, 0);
    c.executionCtx.waitUntil(tellMembership(c.env, others, chatId, true, 0).then(() => announceChatAdded(c.env, chat, chat.members.map((m) => m.id))));
    return c.json(chat, 201);
  })
  .get("/", describe(docs.list), async (c) => c.json({ chats: unwrap(await inboxOf(c.env, c.get("user").id).chatList(c.get("user"))).chats }))
  .get("/:chatId", describe(docs.get), validate("param", chatParams), async (c) => {
    const { chatId } = c.req.valid("param");
    return c.json(await chatAsSeenBy(c, chatId));
  })
  .patch("/:chatId", describe(docs.update), validate("param", chatParams), validate("json", updateChatBody), async (c) => {
    const { chatId } = c.req.valid("param");
    const { name, slowModeSeconds, retentionSeconds } = c.req.valid("json");
    const floor = retentionFloor(c.env);
    if (retentionSeconds !== undefined && retentionSeconds !== null && retentionSeconds < floor) {
      throw badRequest(`invalid json: retentionSeconds: must be null or at least ${floor}`);
    }
    await administer(c, chatId, {
      kind: "update",
      ...(name !== undefined ? { name } : {}),
      ...(slowModeSeconds !== undefined ? { slowModeSeconds } : {}),
      ...(retentionSeconds !== undefined ? { retentionSeconds } : {}),
    });
    return c.json(await chatAsSeenBy(c, chatId));
  })
  .post("/:chatId/members", describe(docs.addMember), validate("param", chatParams), validate("json", addMemberBody), async (c) => {
    const { chatId } = c.req.valid("param");
    const { userId } = c.req.valid("json");
    // On the primary: the user added may have registered a moment ago, on another's bookmark.
    const user = await findUser(c.get("primary"), userId);
    // Whether they block the caller: the room answers it after its own checks. A block made during the
    // add is read by the room after it (src/room/blocks.ts); the add itself stands (DECISIONS.md, "Blocks").
    const blocked = user !== null && (await blockersAmong(c.get("primary"), c.get("user").id, [userId])).length > 0;
    const done = await administer(c, chatId, { kind: "add", userId, user, blocked });
    await tellMembership(c.env, [userId], chatId, true, done.version);
    const { role: _, ...added } = done.member;
    c.executionCtx.waitUntil(
      (async () => {
        const answer = await (await existingRoom(c, chatId)).chat(added);
        if (answer.ok) await announceChatAdded(c.env, answer.chat, [userId]);
      })(),
    );
    return c.json(done.member, 201);
  })
  .patch("/:chatId/members/:userId", describe(docs.setRole), validate("param", memberParams), validate("json", updateMemberBody), async (c) => {
    const { chatId, userId } = c.req.valid("param");
    const { role } = c.req.valid("json");
    const done = await administer(c, chatId, { kind: "role", userId, role });
    return c.json(done.member);
  })
  .delete("/:chatId/members/:userId", describe(docs.removeMember), validate("param", memberParams), async (c) => {
    const { chatId, userId } = c.req.valid("param");
    const done = await administer(c, chatId, { kind: "remove", userId });
    await tellMembership(c.env, [userId], chatId, false, done.version);
    c.executionCtx.waitUntil(announceChatRemoved(c.env, chatId, userId));
    return c.body(null, 204);
  });

const blockedBy = (who: string) => new ApiError(ErrorCode.Blocked, `${who} does not accept chats from you`);

/**
 * The shortest retention a deployment accepts: the contract's minute, unless `RETENTION_MIN_SECONDS`
 * (test-only: the end-to-end retention test runs with seconds) says less.
 */
export function retentionFloor(env: { RETENTION_MIN_SECONDS?: string }): number {
  const configured = Number(env.RETENTION_MIN_SECONDS);
  return Number.isSafeInteger(configured) && configured >= 1 && configured <= limits.retentionMinSeconds ? configured : limits.retentionMinSeconds;
}

/** The chat object from the chat's room: current, the caller's own writes included, without D1. */
async function chatAsSeenBy(c: Context<AppEnv>, chatId: number): Promise<Chat> {
  return unwrap(await (await existingRoom(c, chatId)).chat(c.get("user"))).chat;
}

/**
 * The chat's room decides every administrative change, in one order with sends and the other
 * changes (src/room/administration.ts); it has written D1's copy (or will retry it) when it answers.
 * What it did is of the kind asked for.
 */
async function administer<K extends Administration["kind"]>(
  c: Context<AppEnv>,
  chatId: number,
  change: Extract<Administration, { kind: K }>,
): Promise<Extract<Administered, { kind: K }>> {
  const room = await existingRoom(c, chatId);
  const { done } = unwrap(await room.administer(callerOf(c), change));
  if (done.kind !== change.kind) throw new Error(`the room answered ${done.kind} to ${change.kind}`);
  return done as Extract<Administered, { kind: K }>;
}
