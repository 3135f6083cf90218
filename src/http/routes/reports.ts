/** Reports: a member reports a message to the group's admins; the chat's room keeps them and decides who sees them. */
import { Hono } from "hono";
import { limits } from "../../protocol/limits";
import { chatParams, messageParams, reportBody, reportsQuery } from "../../protocol/schemas";
import type { AppEnv } from "../env";
import { reportListAnswer } from "../openapi/answers";
import { describe, memberOnly, type RouteDoc } from "../openapi/describe";
import { callerOf, existingRoom, unwrap } from "../rooms";
import { validate } from "../validate";

const docs = {
  report: {
    summary: "Report a message to the group's admins",
    description: "`reason`: 1–500 characters, not only white space. The same reporter reporting the same message again answers 202 and keeps one report.",
    tag: "messages",
    access: "bearer",
    ok: { 202: ["the report is kept"] },
    errors: { bad_request: "invalid body", not_found: "no such chat or message", forbidden: "not a member", gone: "the message was deleted" },
  },
  list: {
    summary: "A group's reports",
    description: "Newest first, at most `limit` (1–100, default 50) per page; `before`: a report id (the last of the previous page).",
    tag: "messages",
    access: "bearer",
    ok: { 200: ["the reports", reportListAnswer] },
    errors: { bad_request: "invalid `before` or `limit`", ...memberOnly, forbidden: "not an admin of the group (a direct chat has none)" },
  },
} satisfies Record<string, RouteDoc>;

export const reportRoutes = new Hono<AppEnv>()
  .post("/:chatId/messages/:messageId/report", describe(docs.report), validate("param", messageParams), validate("json", reportBody), async (c) => {
    const { chatId, messageId } = c.req.valid("param");
    const { reason } = c.req.valid("json");
    unwrap(await (await existingRoom(c, chatId)).report(callerOf(c), messageId, reason));
    return c.body(null, 202);
  })
  .get("/:chatId/reports", describe(docs.list), validate("param", chatParams), validate("query", reportsQuery), async (c) => {
    const { chatId } = c.req.valid("param");
    const { before, limit = limits.reportsDefaultLimit } = c.req.valid("query");
    const { reports, hasMore } = unwrap(await (await existingRoom(c, chatId)).reportList(c.get("user"), before, limit));
    return c.json({ reports, hasMore });
  });
