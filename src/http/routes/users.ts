import { Hono } from "hono";
import { searchUsers } from "../../db/users";
import { limits } from "../../protocol/limits";
import { userSearchQuery } from "../../protocol/schemas";
import type { AppEnv } from "../env";
import { validate } from "../validate";

// requireUser already checked that the user exists and the token is current.
export const meRoutes = new Hono<AppEnv>().get("/", (c) => c.json(c.var.user));

export const userRoutes = new Hono<AppEnv>().get("/", validate("query", userSearchQuery), async (c) => {
  const { q } = c.req.valid("query");
  const users = await searchUsers(c.var.db, q, c.var.user.id, limits.userSearchMax);
  return c.json({ users });
});
