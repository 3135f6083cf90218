import type { Context } from "hono";
import { VERIFIED_CALLER_HEADER, type Caller } from "../objects/handshake";
import type { AppEnv } from "./env";

/**
 * Hands an authenticated request (a WebSocket upgrade, or a plain GET the object answers with 426)
 * to a Durable Object. The object trusts only what the Worker sets: the verified user, with their
 * token's version and expiry, in a header (a client's own copy is overwritten); never the token.
 */
export function forwardToObject(c: Context<AppEnv>, target: { fetch(request: Request): Promise<Response> }, url: URL): Promise<Response> {
  const headers = new Headers(c.req.raw.headers);
  headers.delete("Authorization");
  const caller: Caller = { user: c.var.user, session: c.var.session };
  headers.set(VERIFIED_CALLER_HEADER, JSON.stringify(caller));
  return target.fetch(new Request(url, { headers }));
}
