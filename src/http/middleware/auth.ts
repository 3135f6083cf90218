import { createMiddleware } from "hono/factory";
import { verifyToken } from "../../auth/token";
import { ErrorCode } from "../../protocol/errors";
import type { AppEnv } from "../env";
import { ApiError } from "../errors";

const BEARER = /^Bearer ([A-Za-z0-9_.~+/=-]+)$/;

function bearerToken(header: string | undefined): string | undefined {
  return header ? BEARER.exec(header)?.[1] : undefined;
}

/**
 * Requires a valid token. Browsers cannot set headers on a WebSocket, so routes that upgrade
 * (`allowQueryToken`) also accept `?token=`; that URL is never logged.
 */
export function requireUser(options: { allowQueryToken?: boolean } = {}) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const token =
      bearerToken(c.req.header("Authorization")) ?? (options.allowQueryToken ? c.req.query("token") : undefined);
    const user = token ? await verifyToken(token, c.var.signingKey) : null;
    if (!user) throw new ApiError(ErrorCode.Unauthorized, token ? "invalid or expired token" : "missing bearer token");
    c.set("user", user);
    await next();
  });
}
