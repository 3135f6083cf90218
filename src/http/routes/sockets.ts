import { Hono } from "hono";
import { chatParams, socketQuery } from "../../protocol/schemas";
import { inboxOf } from "../../inbox/notify";
import { chatRoom } from "../../room/stub";
import { requireMember } from "../access";
import type { AppEnv } from "../env";
import { requireUser } from "../middleware/auth";
import { forwardUpgrade, requireUpgrade } from "../upgrade";
import { validate } from "../validate";

/** WebSocket upgrades: every check is plain HTTP (401, 404, 403, 426), then an object takes the socket. */
export const chatSocketRoutes = new Hono<AppEnv>().get(
  "/:chatId/ws",
  requireUser({ allowQueryToken: true }),
  validate("param", chatParams),
  validate("query", socketQuery),
  async (c) => {
    const { chatId } = c.req.valid("param");
    const { since } = c.req.valid("query");
    await requireMember(c, chatId);
    requireUpgrade(c);
    const url = new URL(`https://room/${chatId}`);
    if (since !== undefined) url.searchParams.set("since", String(since));
    return forwardUpgrade(c, chatRoom(c.env, chatId), url);
  },
);

export const inboxSocketRoutes = new Hono<AppEnv>().get("/ws", requireUser({ allowQueryToken: true }), async (c) => {
  requireUpgrade(c);
  return forwardUpgrade(c, inboxOf(c.env, c.var.user.id), new URL(`https://inbox/${c.var.user.id}`));
});
