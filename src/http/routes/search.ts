import { Hono } from "hono";
import { findMessages } from "../../db/search";
import { makeSnippet, searchTerms } from "../../db/search-text";
import { limits } from "../../protocol/limits";
import type { SearchPage } from "../../protocol/models";
import { searchQuery } from "../../protocol/schemas";
import { encodeSearchCursor } from "../../protocol/search";
import { requireMember } from "../access";
import type { AppEnv } from "../env";
import { searchPageAnswer } from "../openapi/answers";
import { describe, type RouteDoc } from "../openapi/describe";
import { validate } from "../validate";

const docs = {
  search: {
    summary: "Search the messages of the caller's chats",
    description:
      "`q` (1–200 characters, counted in UTF-16 code units, not blank) is searched as plain words, whatever it contains (quotes, `*`, `-`, NEAR, OR … are text); all words must match, the last one as a prefix; case and diacritics do not matter. The chats the caller is a member of now, or only `chatId`. Newest first; `limit` 1–50, default 20; `before`: the previous page's `nextBefore`. Served from the copy of the chats, about a second behind a chat once it pauses (at most about 30 s).",
    tag: "search",
    access: "bearer",
    ok: { 200: ["the matching messages, newest first", searchPageAnswer] },
    errors: { bad_request: "`q` empty, blank or too long; invalid `chatId`, `limit` or `before`", not_found: "no such chat (`chatId`)", forbidden: "the caller is not a member of `chatId`" },
  },
} satisfies Record<string, RouteDoc>;

export const searchRoutes = new Hono<AppEnv>().get("/", describe(docs.search), validate("query", searchQuery), async (c) => {
  const { q, chatId, limit = limits.searchDefaultLimit, before } = c.req.valid("query");
  if (chatId !== undefined) await requireMember(c, chatId);
  const terms = searchTerms(q);
  // On the primary: the query itself picks the caller's chats from chat_members, and a replica behind
  // by its lag would still search a chat the caller was just removed from (another's write, which
  // the caller's bookmark does not cover).
  const found = terms.match === null ? [] : await findMessages(c.get("primary"), c.get("user").id, { terms: { match: terms.match, matcher: terms.matcher }, chatId, limit, before });
  const page = found.slice(0, limit);
  const last = page.at(-1);
  const hasMore = found.length > limit;
  const answer: SearchPage = {
    results: page.map((message) => ({ chatId: message.chatId, message, snippet: makeSnippet(message.content, terms.words) })),
    hasMore,
    nextBefore: hasMore && last ? encodeSearchCursor({ createdAt: Date.parse(last.timestamp), chatId: last.chatId, messageId: last.id }) : null,
  };
  return c.json(answer);
});
