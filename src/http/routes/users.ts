import { Hono } from "hono";
import { findUser, searchUsers } from "../../db/users";
import { ErrorCode } from "../../protocol/errors";
import { limits } from "../../protocol/limits";
import { userSearchQuery } from "../../protocol/schemas";
import type { AppEnv } from "../env";
import { ApiError } from "../errors";
import { validate } from "../validate";

export const meRoutes = new Hono<AppEnv>().get("/", async (c) => {
  // The token may outlive its user; a deleted user gets nothing.
  const user = await findUser(c.var.db, c.var.user.id);
  if (!user) throw new ApiError(ErrorCode.Unauthorized, "user no longer exists");
  return c.json(user);
});

export const userRoutes = new Hono<AppEnv>().get("/", validate("query", userSearchQuery), async (c) => {
  const { q } = c.req.valid("query");
  const users = await searchUsers(c.var.db, q, c.var.user.id, limits.userSearchMax);
  return c.json({ users });
});
