import type { Context } from "hono";
import { cors } from "hono/cors";
import { ErrorCode } from "../../protocol/errors";
import type { AppEnv } from "../env";
import { ApiError } from "../errors";

let parsedOrigins: { from: string; allowed: Set<string> | null } | null = null;

/** `ALLOWED_ORIGINS`: comma-separated origins; empty means any origin. Parsed once per value. */
export function allowedOrigins(env: Env): Set<string> | null {
  const from = env.ALLOWED_ORIGINS ?? "";
  if (parsedOrigins?.from !== from) {
    const list = from.split(",").map((o) => o.trim()).filter(Boolean);
    parsedOrigins = { from, allowed: list.length ? new Set(list) : null };
  }
  return parsedOrigins.allowed;
}

/**
 * CORS for the HTTP API, following the same setting as WebSocket origins. One middleware for the
 * isolate (the origin is decided per request): building it per request cost every connect.
 */
export const apiCors = cors({
  origin: (origin, c: Context<AppEnv>) => {
    const allowed = allowedOrigins(c.env);
    if (!allowed) return "*";
    return allowed.has(origin) ? origin : null;
  },
  // X-File-Name names an upload; Range and If-None-Match make downloads resumable and cacheable;
  // X-D1-Bookmark lets a D1 replica serve the read (src/db/bookmarks.ts).
  allowHeaders: ["Authorization", "Content-Type", "X-File-Name", "Range", "If-None-Match", "X-D1-Bookmark"],
  allowMethods: ["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
  exposeHeaders: ["Retry-After", "Content-Range", "Content-Disposition", "ETag", "X-D1-Bookmark"],
  maxAge: 600,
});

/**
 * Browsers send `Origin` on WebSocket upgrades and CORS does not apply to them, so the check is
 * ours: a page from an origin not in the list cannot open sockets with a user's token. Clients
 * that send no Origin (servers, apps) are not browsers and pass.
 */
export function requireAllowedOrigin(c: Context<AppEnv>): void {
  const origin = c.req.header("Origin");
  const allowed = allowedOrigins(c.env);
  if (origin && allowed && !allowed.has(origin)) throw new ApiError(ErrorCode.Forbidden, "origin not allowed");
}
