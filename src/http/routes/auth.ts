import { Hono, type Context } from "hono";
import { clearLoginFailures, loginBlockedFor, recordLoginFailure, throttleKeys } from "../../auth/login-throttle";
import { DUMMY_HASH, hashPassword, verifyPassword } from "../../auth/password";
import { signToken, tokenTtlSeconds } from "../../auth/token";
import { tokenVersions } from "../../auth/token-versions";
import { endSessions } from "../../objects/end-sessions";
import { endSubscriptionsBefore } from "../../db/push";
import { bumpTokenVersion, createUser, findCredentials, findCredentialsById, setPassword } from "../../db/users";
import { ErrorCode } from "../../protocol/errors";
import type { AuthResponse, User } from "../../protocol/models";
import { changePasswordBody, credentialsBody } from "../../protocol/schemas";
import type { AppEnv } from "../env";
import { ApiError } from "../errors";
import { requireUser } from "../middleware/auth";
import { authAnswer } from "../openapi/answers";
import { describe, type RouteDoc } from "../openapi/describe";
import { validate } from "../validate";
import { inboxOf } from "../../objects/stubs";

/** The answer of register, login, refresh and a password change, from what the write just returned. */
async function signedIn(c: Context<AppEnv>, user: User, version: number, status: 200 | 201) {
  const token = await signToken(user, version, c.get("signingKey"), tokenTtlSeconds(c.env.TOKEN_TTL_SECONDS));
  const body: AuthResponse = { token, user };
  return c.json(body, status);
}

const docs = {
  register: {
    summary: "Create an account",
    tag: "auth",
    access: "public",
    ok: { 201: ["the new user, signed in", authAnswer] },
    errors: { bad_request: "a username or password that breaks the rules (3–32 of `A-Z a-z 0-9 _ . -`; 8–128 characters)", conflict: "the username is taken (without regard to case)" },
  },
  login: {
    summary: "Sign in",
    tag: "auth",
    access: "public",
    ok: { 200: ["the user, signed in", authAnswer] },
    errors: {
      bad_request: "a username or password that breaks the register rules (it cannot name an account)",
      unauthorized: "wrong username or password (the same answer for both)",
      rate_limited: "10 failed logins of this username, or 100 from this address, within 15 minutes (even with the right password); retry after `Retry-After` seconds",
    },
  },
  refresh: {
    summary: "A fresh token for a valid one",
    description: "Same user and session (token version), a new `exp`. An expired or revoked token cannot be refreshed.",
    tag: "auth",
    access: "bearer",
    ok: { 200: ["a new token", authAnswer] },
  },
  logout: {
    summary: "Revoke every token of the caller",
    description: "Logout means everywhere: refused at once by the server instance that revoked, within 10 s by the others. The caller's push subscriptions end with it.",
    tag: "auth",
    access: "bearer",
    ok: { 204: ["revoked"] },
  },
  password: {
    summary: "Change the password",
    description: "Revokes every token of the caller and answers a fresh one. Push subscriptions made before end (subscribe again with the new token).",
    tag: "auth",
    access: "bearer",
    ok: { 200: ["the user with a fresh token", authAnswer] },
    errors: { bad_request: "either password outside 8–128 characters", forbidden: "the current password is wrong (nothing changes)" },
  },
} satisfies Record<string, RouteDoc>;

export const authRoutes = new Hono<AppEnv>()
  .post("/register", describe(docs.register), validate("json", credentialsBody), async (c) => {
    const { username, password } = c.req.valid("json");
    const user = await createUser(c.get("primary"), username, await hashPassword(password));
    if (!user) throw new ApiError(ErrorCode.Conflict, "username is taken");
    // A new user is in no chat: their inbox's list is complete from the start and never needs D1.
    await inboxOf(c.env, user.id).startFresh().catch((err) => console.error("a new inbox could not be started", err instanceof Error ? err.message : String(err)));
    return signedIn(c, user, 0, 201);
  })
  .post("/login", describe(docs.login), validate("json", credentialsBody), async (c) => {
    const { username, password } = c.req.valid("json");
    // Cloudflare sets CF-Connecting-IP at the edge; a client cannot choose it.
    const keys = throttleKeys(username, c.req.header("CF-Connecting-IP"));
    // The throttle's count and the credentials come from a replica near the caller (the session
    // starts from their bookmark). The throttle was never exact (two guesses at once both pass the
    // check before either is counted); a replica behind by its lag lets through at most the
    // failures of that lag more, and every failure is counted on the primary.
    const wait = await loginBlockedFor(c.get("db"), keys);
    if (wait > 0) {
      throw new ApiError(ErrorCode.RateLimited, "too many failed logins; try again later", { "Retry-After": String(wait) });
    }
    let row = await findCredentials(c.get("db"), username);
    // An unknown user costs the same hash as a wrong password.
    let ok = await verifyPassword(password, row ? { hash: row.passwordHash, salt: row.passwordSalt } : DUMMY_HASH);
    if (!row || !ok) {
      // A replica may not have an account registered or a password changed a moment ago on another
      // device: the primary confirms a refusal. (An old password a stale replica still accepts signs
      // a token with the old token version, which the primary's version refuses at its first use.)
      const current = await findCredentials(c.get("primary"), username);
      if (current && current.passwordHash !== row?.passwordHash) {
        row = current;
        ok = await verifyPassword(password, { hash: current.passwordHash, salt: current.passwordSalt });
      }
    }
    if (!row || !ok) {
      await recordLoginFailure(c.get("db"), keys);
      throw new ApiError(ErrorCode.Unauthorized, "wrong username or password");
    }
    await clearLoginFailures(c.get("db"), keys);
    return signedIn(c, { id: row.id, username: row.username }, row.tokenVersion, 200);
  })
  // Same user, same token version: a refresh extends a session, and the logout or password change
  // that revokes the old token revokes this one too.
  .post("/refresh", describe(docs.refresh), requireUser(), (c) => signedIn(c, c.get("user"), c.get("session").version, 200))
  .post("/logout", describe(docs.logout), requireUser(), async (c) => {
    // Revokes every token of the user: logout means logout everywhere, open sockets included.
    const version = await bumpTokenVersion(c.get("primary"), c.get("user").id);
    tokenVersions.remember(c.get("user").id, version);
    // The session's push subscriptions end with it (a subscribe racing this is never sent to: src/db/push.ts).
    await endSubscriptionsBefore(c.get("primary"), c.get("user").id, version);
    await endSessions(c.env, c.get("primary"), c.get("user").id, version);
    return c.body(null, 204);
  })
  .post("/password", describe(docs.password), requireUser(), validate("json", changePasswordBody), async (c) => {
    const { currentPassword, newPassword } = c.req.valid("json");
    // On the primary: the current password is checked against the latest one, not a replica's.
    const row = await findCredentialsById(c.get("primary"), c.get("user").id);
    if (!row || !(await verifyPassword(currentPassword, { hash: row.passwordHash, salt: row.passwordSalt }))) {
      throw new ApiError(ErrorCode.Forbidden, "current password is wrong");
    }
    const version = await setPassword(c.get("primary"), row.id, await hashPassword(newPassword));
    // Older tokens stop working at once in this isolate, within FRESH_MS in the others.
    tokenVersions.remember(row.id, version);
    // Every subscription made before ends, this device's too: it subscribes again with its new token.
    await endSubscriptionsBefore(c.get("primary"), row.id, version);
    await endSessions(c.env, c.get("primary"), row.id, version);
    return signedIn(c, { id: row.id, username: row.username }, version, 200);
  });
