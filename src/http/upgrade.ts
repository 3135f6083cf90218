import type { Context } from "hono";
import { VERIFIED_USER_HEADER } from "../objects/handshake";
import type { AppEnv } from "./env";

/**
 * Hands an authenticated request (a WebSocket upgrade, or a plain GET the object answers with 426)
 * to a Durable Object. The object trusts only what the Worker sets: the verified user in a header
 * (a client's own copy is overwritten), no token.
 */
export function forwardToObject(c: Context<AppEnv>, target: { fetch(request: Request): Promise<Response> }, url: URL): Promise<Response> {
  const headers = new Headers(c.req.raw.headers);
  headers.delete("Authorization");
  headers.set(VERIFIED_USER_HEADER, JSON.stringify(c.var.user));
  return target.fetch(new Request(url, { headers }));
}
