import { Hono } from "hono";
import {
  addMember,
  countAdmins,
  createGroupChat,
  existingUserIds,
  findMember,
  loadChat,
  loadChats,
  openDirectChat,
  removeMember,
  renameChat,
  setRole,
} from "../../db/chats";
import { findUser } from "../../db/users";
import { ErrorCode } from "../../protocol/errors";
import { addMemberBody, chatParams, createChatBody, memberParams, renameChatBody, updateMemberBody } from "../../protocol/schemas";
import { announceChatAdded, announceChatRemoved } from "../../inbox/notify";
import { chatRoom } from "../../objects/stubs";
import { requireGroupAdmin, requireMember } from "../access";
import type { AppEnv } from "../env";
import { ApiError, badRequest, notFound } from "../errors";
import { validate } from "../validate";

export const chatRoutes = new Hono<AppEnv>()
  .post("/", validate("json", createChatBody), async (c) => {
    const body = c.req.valid("json");
    const me = c.var.user.id;
    let chatId: number;
    let created = true;
    if (body.type === "direct") {
      if (body.userId === me) throw badRequest("a direct chat needs another user");
      if (!(await findUser(c.var.db, body.userId))) throw notFound(`user ${body.userId} not found`);
      ({ chatId, created } = await openDirectChat(c.var.db, me, body.userId));
    } else {
      const found = await existingUserIds(c.var.db, body.memberIds);
      const missing = body.memberIds.find((id) => !found.has(id));
      if (missing !== undefined) throw notFound(`user ${missing} not found`);
      chatId = await createGroupChat(c.var.db, me, body.name, body.memberIds);
    }
    const chat = (await loadChat(c.var.db, me, chatId))!;
    if (created) c.executionCtx.waitUntil(announceChatAdded(c.env, chat, chat.members.map((m) => m.id)));
    return c.json(chat, created ? 201 : 200);
  })
  .get("/", async (c) => c.json({ chats: await loadChats(c.var.db, c.var.user.id) }))
  .get("/:chatId", validate("param", chatParams), async (c) => {
    const { chatId } = c.req.valid("param");
    await requireMember(c, chatId);
    return c.json(await loadChat(c.var.db, c.var.user.id, chatId));
  })
  .patch("/:chatId", validate("param", chatParams), validate("json", renameChatBody), async (c) => {
    const { chatId } = c.req.valid("param");
    const { name } = c.req.valid("json");
    await requireGroupAdmin(c, chatId);
    await renameChat(c.var.db, chatId, name);
    await chatRoom(c.env, chatId).applyMembership({ type: "renamed", name });
    return c.json(await loadChat(c.var.db, c.var.user.id, chatId));
  })
  .post("/:chatId/members", validate("param", chatParams), validate("json", addMemberBody), async (c) => {
    const { chatId } = c.req.valid("param");
    const { userId } = c.req.valid("json");
    await requireGroupAdmin(c, chatId);
    const user = await findUser(c.var.db, userId);
    if (!user) throw notFound(`user ${userId} not found`);
    const member = await addMember(c.var.db, chatId, user);
    if (!member) {
      // A retry after the room missed the add (its call failed) puts the room right.
      const existing = await findMember(c.var.db, chatId, userId);
      if (existing) await chatRoom(c.env, chatId).applyMembership({ type: "added", member: existing });
      throw new ApiError(ErrorCode.Conflict, "already a member");
    }
    await chatRoom(c.env, chatId).applyMembership({ type: "added", member });
    c.executionCtx.waitUntil(
      loadChat(c.var.db, userId, chatId).then((chat) => chat && announceChatAdded(c.env, chat, [userId])),
    );
    return c.json(member, 201);
  })
  .patch("/:chatId/members/:userId", validate("param", memberParams), validate("json", updateMemberBody), async (c) => {
    const { chatId, userId } = c.req.valid("param");
    const { role } = c.req.valid("json");
    await requireGroupAdmin(c, chatId);
    const target = await findMember(c.var.db, chatId, userId);
    if (!target) throw notFound("not a member of this chat");
    if (target.role === "admin" && role === "member" && (await countAdmins(c.var.db, chatId)) <= 1) {
      throw badRequest("a group needs at least one admin");
    }
    await setRole(c.var.db, chatId, userId, role);
    const member = { ...target, role };
    await chatRoom(c.env, chatId).applyMembership({ type: "updated", member });
    return c.json(member);
  })
  .delete("/:chatId/members/:userId", validate("param", memberParams), async (c) => {
    const { chatId, userId } = c.req.valid("param");
    const leaving = userId === c.var.user.id;
    await requireGroupAdmin(c, chatId, leaving);
    const target = leaving ? null : await findMember(c.var.db, chatId, userId);
    if (!leaving && !target) throw notFound("not a member of this chat");
    const user = target ?? c.var.user;
    const room = chatRoom(c.env, chatId);
    // The room first: once it has the removal, the member hears nothing more from this chat, even
    // if the D1 write below fails (the admin's retry then finishes it).
    await room.applyMembership({ type: "removed", user: { id: user.id, username: user.username } });
    const promoted = await removeMember(c.var.db, chatId, userId);
    if (promoted) await room.applyMembership({ type: "updated", member: promoted });
    c.executionCtx.waitUntil(announceChatRemoved(c.env, chatId, userId));
    return c.body(null, 204);
  });
