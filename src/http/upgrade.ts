import type { Context } from "hono";
import { ErrorCode } from "../protocol/errors";
import { ROOM_USER_HEADER } from "../room/handshake";
import type { AppEnv } from "./env";
import { ApiError } from "./errors";
import { requireAllowedOrigin } from "./middleware/origin";

/** 426 unless the request asks for a WebSocket; 403 for a browser page from a foreign origin. */
export function requireUpgrade(c: Context<AppEnv>): void {
  requireAllowedOrigin(c);
  if (c.req.header("Upgrade")?.toLowerCase() !== "websocket") {
    throw new ApiError(ErrorCode.UpgradeRequired, "this route only speaks WebSocket");
  }
}

/**
 * Hands an authenticated upgrade to a Durable Object. The object trusts only what the Worker
 * sets: the verified user in a header (a client's own copy is overwritten), no token.
 */
export function forwardUpgrade(c: Context<AppEnv>, target: { fetch(request: Request): Promise<Response> }, url: URL): Promise<Response> {
  const headers = new Headers(c.req.raw.headers);
  headers.delete("Authorization");
  headers.set(ROOM_USER_HEADER, JSON.stringify(c.var.user));
  return target.fetch(new Request(url, { headers }));
}
