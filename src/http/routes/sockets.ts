import { Hono } from "hono";
import { chatRoom, inboxOf } from "../../objects/stubs";
import { ErrorCode } from "../../protocol/errors";
import { chatParams, socketQuery } from "../../protocol/schemas";
import type { AppEnv } from "../env";
import { ApiError } from "../errors";
import { requireUser } from "../middleware/auth";
import { requireAllowedOrigin } from "../middleware/origin";
import { forwardToObject } from "../upgrade";
import { validate } from "../validate";

/**
 * WebSocket upgrades. The Worker checks the token (401) and the origin; the chat's room decides
 * 404, 403 and 426 from its own member list, so a connect costs no membership query.
 */
export const chatSocketRoutes = new Hono<AppEnv>().get(
  "/:chatId/ws",
  requireUser({ allowQueryToken: true }),
  validate("param", chatParams),
  validate("query", socketQuery),
  async (c) => {
    const { chatId } = c.req.valid("param");
    const { since, changesSince } = c.req.valid("query");
    requireAllowedOrigin(c);
    const url = new URL("https://room/ws");
    if (since !== undefined) url.searchParams.set("since", String(since));
    if (changesSince !== undefined) url.searchParams.set("changesSince", String(changesSince));
    return forwardToObject(c, chatRoom(c.env, chatId), url);
  },
);

export const inboxSocketRoutes = new Hono<AppEnv>().get("/ws", requireUser({ allowQueryToken: true }), async (c) => {
  requireAllowedOrigin(c);
  if (c.req.header("Upgrade")?.toLowerCase() !== "websocket") {
    throw new ApiError(ErrorCode.UpgradeRequired, "this route only speaks WebSocket");
  }
  return forwardToObject(c, inboxOf(c.env, c.var.user.id), new URL("https://inbox/ws"));
});
