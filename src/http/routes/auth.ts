import { Hono } from "hono";
import { DUMMY_HASH, hashPassword, verifyPassword } from "../../auth/password";
import { signToken } from "../../auth/token";
import { createUser, findCredentials } from "../../db/users";
import { ErrorCode } from "../../protocol/errors";
import type { AuthResponse } from "../../protocol/models";
import { credentialsBody } from "../../protocol/schemas";
import type { AppEnv } from "../env";
import { ApiError } from "../errors";
import { validate } from "../validate";

export const authRoutes = new Hono<AppEnv>()
  .post("/register", validate("json", credentialsBody), async (c) => {
    const { username, password } = c.req.valid("json");
    const user = await createUser(c.var.db, username, await hashPassword(password));
    if (!user) throw new ApiError(ErrorCode.Conflict, "username is taken");
    const body: AuthResponse = { token: await signToken(user, c.var.signingKey), user };
    return c.json(body, 201);
  })
  .post("/login", validate("json", credentialsBody), async (c) => {
    const { username, password } = c.req.valid("json");
    const row = await findCredentials(c.var.db, username);
    // An unknown user costs the same hash as a wrong password.
    const ok = await verifyPassword(password, row ? { hash: row.passwordHash, salt: row.passwordSalt } : DUMMY_HASH);
    if (!row || !ok) throw new ApiError(ErrorCode.Unauthorized, "wrong username or password");
    const user = { id: row.id, username: row.username };
    const body: AuthResponse = { token: await signToken(user, c.var.signingKey), user };
    return c.json(body, 200);
  });
