import { Hono } from "hono";
import { ErrorCode } from "../../protocol/errors";
import { chatParams, socketQuery } from "../../protocol/schemas";
import { ROOM_USER_HEADER } from "../../room/handshake";
import { chatRoom } from "../../room/stub";
import { requireMember } from "../access";
import type { AppEnv } from "../env";
import { ApiError } from "../errors";
import { requireUser } from "../middleware/auth";
import { validate } from "../validate";

/** WebSocket upgrades: every check is plain HTTP, then the room takes the socket. */
export const socketRoutes = new Hono<AppEnv>().get(
  "/:chatId/ws",
  requireUser({ allowQueryToken: true }),
  validate("param", chatParams),
  validate("query", socketQuery),
  async (c) => {
    const { chatId } = c.req.valid("param");
    const { since } = c.req.valid("query");
    await requireMember(c, chatId);
    if (c.req.header("Upgrade")?.toLowerCase() !== "websocket") {
      throw new ApiError(ErrorCode.UpgradeRequired, "this route only speaks WebSocket");
    }
    // The room trusts only what the Worker sets: a fresh request, the verified user in a header.
    const headers = new Headers(c.req.raw.headers);
    headers.delete("Authorization");
    headers.set(ROOM_USER_HEADER, JSON.stringify(c.var.user));
    const url = new URL(`https://room/${chatId}`);
    if (since !== undefined) url.searchParams.set("since", String(since));
    return chatRoom(c.env, chatId).fetch(new Request(url, { headers }));
  },
);
