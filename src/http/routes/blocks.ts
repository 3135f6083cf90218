/**
 * Blocks: a user's own fact, kept in D1 (the record), and told to every chat room the two users
 * share, which keeps the pairs of its members to decide sends and unread counts without D1
 * (src/room/blocks.ts). The room reads the pair from D1 itself, so calls that cross cannot leave it
 * with an older state than D1's.
 */
import { Hono, type Context } from "hono";
import { block, blockedUsers, commonChats, unblock } from "../../db/blocks";
import { findUser } from "../../db/users";
import { chatRoom } from "../../objects/stubs";
import { ErrorCode } from "../../protocol/errors";
import { userParams } from "../../protocol/schemas";
import type { AppEnv } from "../env";
import { ApiError, badRequest, notFound } from "../errors";
import { userListAnswer } from "../openapi/answers";
import { describe, type RouteDoc } from "../openapi/describe";
import { validate } from "../validate";

const docs = {
  block: {
    summary: "Block a user",
    description:
      "Per direction: the blocked user can no longer open a direct chat with the caller, send in their direct chat, or add them to a group (`403 blocked`). In groups both stay members; the caller gets no push and no unread count from them, and clients collapse their messages. Blocking again answers 204.",
    tag: "users",
    access: "bearer",
    ok: { 204: ["the caller blocks the user"] },
    errors: { bad_request: "the caller themself, or a malformed id", not_found: "no such user" },
  },
  unblock: {
    summary: "Unblock a user",
    tag: "users",
    access: "bearer",
    ok: { 204: ["the caller does not block the user (any more)"] },
    errors: { bad_request: "the caller themself, or a malformed id", not_found: "no such user" },
  },
  blocked: { summary: "The users the caller blocks", tag: "users", access: "bearer", ok: { 200: ["by username", userListAnswer] } },
} satisfies Record<string, RouteDoc>;

/** Rooms told at once. */
const ROOMS_PER_ROUND = 50;

/**
 * Every chat both users are in reads their pair again, before the answer: once it is answered, the
 * blocked user's next send in their direct chat is refused. A room that cannot reach D1 fails the
 * request (503; D1 already has the change, and repeating the request tells the rooms again).
 */
async function tellRooms(c: Context<AppEnv>, a: number, b: number): Promise<void> {
  const chats = await commonChats(c.get("primary"), a, b);
  for (let i = 0; i < chats.length; i += ROOMS_PER_ROUND) {
    const answers = await Promise.all(chats.slice(i, i + ROOMS_PER_ROUND).map((id) => chatRoom(c.env, id).blocksChanged(a, b)));
    if (answers.some((r) => !r.ok && r.code !== ErrorCode.NotFound)) throw new ApiError(ErrorCode.Unavailable, "the block is recorded but could not reach every chat; try again");
  }
}

/** The other user, checked: not the caller (400), and one that exists (404). */
async function target(c: Context<AppEnv>, userId: number): Promise<number> {
  if (userId === c.get("user").id) throw badRequest("you cannot block yourself");
  if (!(await findUser(c.get("primary"), userId))) throw notFound(`user ${userId} not found`);
  return userId;
}

export const blockRoutes = new Hono<AppEnv>()
  .get("/me/blocked", describe(docs.blocked), async (c) => c.json({ users: await blockedUsers(c.get("primary"), c.get("user").id) }))
  .put("/:userId/block", describe(docs.block), validate("param", userParams), async (c) => {
    const blocked = await target(c, c.req.valid("param").userId);
    await block(c.get("primary"), c.get("user").id, blocked);
    await tellRooms(c, c.get("user").id, blocked);
    return c.body(null, 204);
  })
  .delete("/:userId/block", describe(docs.unblock), validate("param", userParams), async (c) => {
    const blocked = await target(c, c.req.valid("param").userId);
    await unblock(c.get("primary"), c.get("user").id, blocked);
    await tellRooms(c, c.get("user").id, blocked);
    return c.body(null, 204);
  });
