import { Hono } from "hono";
import { inboxOf } from "../../objects/stubs";
import { ErrorCode } from "../../protocol/errors";
import { chatParams, socketQuery } from "../../protocol/schemas";
import type { AppEnv } from "../env";
import { ApiError } from "../errors";
import { requireUser } from "../middleware/auth";
import { requireAllowedOrigin } from "../middleware/origin";
import { describe, type RouteDoc } from "../openapi/describe";
import { connectChatSocket, forwardToObject } from "../upgrade";
import { validate } from "../validate";
import { existingRoom } from "../rooms";

const frames = "The frames, `{ \"event\", \"data\" }` JSON text, are in docs/PROTOCOL.md";
const docs = {
  chat: {
    summary: "Open a chat's WebSocket",
    description: `With \`Upgrade: websocket\`. \`since\` replays every later message first (\`since=0\`: from the first), then \`replay_done\`; \`changesSince\` also replays the edits, deletes and reactions after that change id. \`receipts=batched\`: read receipts as one \`reads_updated\` per window; \`frames=batched\`: several events may come as one JSON array frame. Checked in this order: the token (401), the path and query (400), the origin (403), the chat (404), membership (403), the upgrade (426). ${frames} (WebSocket).`,
    tag: "sockets",
    access: "socket",
    ok: { 101: ["switched to WebSocket; the first frame is `joined_chat`"] },
    errors: {
      bad_request: "a `chatId`, `since` or `changesSince` that is not an integer (`since` and `changesSince` may be 0), or `receipts` or `frames` other than `batched`",
      forbidden: "not a member of the chat, or a browser origin not in ALLOWED_ORIGINS",
      not_found: "no such chat",
      upgrade_required: "not a WebSocket request",
    },
  },
  inbox: {
    summary: "Open the caller's inbox WebSocket",
    description: `With \`Upgrade: websocket\`: live updates of the caller's whole chat list. ${frames} (Inbox).`,
    tag: "sockets",
    access: "socket",
    ok: { 101: ["switched to WebSocket; the first frame is `inbox_ready`"] },
    errors: { forbidden: "a browser origin not in ALLOWED_ORIGINS", upgrade_required: "not a WebSocket request" },
  },
} satisfies Record<string, RouteDoc>;

/**
 * WebSocket upgrades. The Worker checks the token (401) and the origin; the chat's room decides
 * 404, 403 and 426 from its own member list, so a connect costs no membership query.
 */
export const chatSocketRoutes = new Hono<AppEnv>().get(
  "/:chatId/ws",
  describe(docs.chat),
  requireUser({ allowQueryToken: true }),
  validate("param", chatParams),
  validate("query", socketQuery),
  async (c) => {
    const { chatId } = c.req.valid("param");
    const { since, changesSince, receipts, frames } = c.req.valid("query");
    requireAllowedOrigin(c);
    const url = new URL("https://room/ws");
    if (since !== undefined) url.searchParams.set("since", String(since));
    if (changesSince !== undefined) url.searchParams.set("changesSince", String(changesSince));
    if (receipts !== undefined) url.searchParams.set("receipts", receipts);
    if (frames !== undefined) url.searchParams.set("frames", frames);
    return connectChatSocket(c, await existingRoom(c, chatId), url);
  },
);

export const inboxSocketRoutes = new Hono<AppEnv>().get("/ws", describe(docs.inbox), requireUser({ allowQueryToken: true }), async (c) => {
  requireAllowedOrigin(c);
  if (c.req.header("Upgrade")?.toLowerCase() !== "websocket") {
    throw new ApiError(ErrorCode.UpgradeRequired, "this route only speaks WebSocket");
  }
  return forwardToObject(c, inboxOf(c.env, c.get("user").id), new URL("https://inbox/ws"));
});
