import { createMiddleware } from "hono/factory";
import { verifyToken } from "../../auth/token";
import { tokenVersions } from "../../auth/token-versions";
import { isUnavailable } from "../../db/deadline";
import { findTokenVersion } from "../../db/users";
import { ErrorCode } from "../../protocol/errors";
import type { AppEnv } from "../env";
import { ApiError } from "../errors";

const BEARER = /^Bearer ([A-Za-z0-9_.~+/=-]+)$/;

function bearerToken(header: string | undefined): string | undefined {
  return header ? BEARER.exec(header)?.[1] : undefined;
}

/**
 * Requires a valid, current token: signed by us, not expired, and issued under the user's current
 * token version (logout and password changes bump it; a deleted user has none). The version comes
 * from a per-isolate cache (src/auth/token-versions.ts: at most 10 s old, or up to an hour while D1
 * is unavailable; a user not cached then gets 503), so most requests and connects read nothing from
 * D1. Browsers cannot set headers on a WebSocket, so routes that upgrade (`allowQueryToken`) also
 * accept `?token=`; no URL is ever logged.
 */
export function requireUser(options: { allowQueryToken?: boolean } = {}) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const token =
      bearerToken(c.req.header("Authorization")) ?? (options.allowQueryToken ? c.req.query("token") : undefined);
    if (!token) throw new ApiError(ErrorCode.Unauthorized, "missing bearer token");
    const claims = await verifyToken(token, c.get("signingKey"));
    if (!claims) throw new ApiError(ErrorCode.Unauthorized, "invalid or expired token");
    // Read on D1's primary: a replica behind by its lag could still hold the version a logout or a
    // password change just replaced. The cache makes that one read per user per isolate per 10 s.
    const current = await tokenVersions.current(claims.user.id, () => findTokenVersion(c.get("primary"), claims.user.id), isUnavailable);
    if (current !== claims.version) {
      throw new ApiError(ErrorCode.Unauthorized, "token revoked");
    }
    c.set("user", claims.user);
    c.set("session", { version: claims.version, expiresAt: claims.expiresAt });
    await next();
  });
}
