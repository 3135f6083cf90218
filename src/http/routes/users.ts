import { Hono } from "hono";
import { searchUsers } from "../../db/users";
import { limits } from "../../protocol/limits";
import { userSearchQuery } from "../../protocol/schemas";
import type { AppEnv } from "../env";
import { userAnswer, userListAnswer } from "../openapi/answers";
import { describe, type RouteDoc } from "../openapi/describe";
import { validate } from "../validate";

const docs = {
  me: { summary: "The caller", tag: "users", access: "bearer", ok: { 200: ["the user the token is for", userAnswer] } },
  search: {
    summary: "Find users by username prefix",
    description: "Up to 20 users whose username starts with `q` (case-insensitive, matched literally: no wildcards), the caller excluded, ordered by lower-cased username. `q` left out or empty matches every user.",
    tag: "users",
    access: "bearer",
    ok: { 200: ["the matching users", userListAnswer] },
    errors: { bad_request: "`q` over 32 characters" },
  },
} satisfies Record<string, RouteDoc>;

// requireUser already checked that the user exists and the token is current.
export const meRoutes = new Hono<AppEnv>().get("/", describe(docs.me), (c) => c.json(c.get("user")));

export const userRoutes = new Hono<AppEnv>().get("/", describe(docs.search), validate("query", userSearchQuery), async (c) => {
  const { q } = c.req.valid("query");
  const users = await searchUsers(c.get("db"), q, c.get("user").id, limits.userSearchMax);
  return c.json({ users });
});
