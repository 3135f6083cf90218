import type { Context } from "hono";
import { NEAR_HEADER, nearestHint, SHARD_HEADER, shardStub } from "../fanout/placement";
import { VERIFIED_CALLER_HEADER } from "../objects/handshake";
import type { AppEnv } from "./env";
import { callerOf } from "./rooms";

/**
 * Hands an authenticated request (a WebSocket upgrade, or a plain GET the object answers with 426)
 * to a Durable Object. The object gets only what the Worker sets: whether it is an upgrade, the
 * verified user with their token's version and expiry, and where the caller is; never the token,
 * nor any other header of the client's (the runtime makes the upgrade's own handshake; copying
 * every header was a third of the forward's cost per connect).
 */
export function forwardToObject(c: Context<AppEnv>, target: { fetch(request: Request): Promise<Response> }, url: URL, near?: string): Promise<Response> {
  const headers: Record<string, string> = { [VERIFIED_CALLER_HEADER]: JSON.stringify(callerOf(c)) };
  const upgrade = c.req.header("Upgrade");
  if (upgrade !== undefined) headers["Upgrade"] = upgrade;
  if (near !== undefined) headers[NEAR_HEADER] = near;
  return target.fetch(new Request(url, { headers }));
}

/**
 * A chat socket: the room decides (404, 403, 426, or accepted), unless it already holds its share
 * of sockets; then it names a fan-out shard of the caller's region, and the upgrade goes there
 * (the shard has the room check it again). The room's placement answer never reaches the client.
 */
export async function connectChatSocket(c: Context<AppEnv>, room: { fetch(request: Request): Promise<Response> }, url: URL): Promise<Response> {
  // An incoming request's `cf` (absent locally) says where the caller connects from.
  const answer = await forwardToObject(c, room, url, nearestHint(c.req.raw.cf as IncomingRequestCfProperties | undefined));
  const shard = answer.headers.get(SHARD_HEADER);
  return shard === null ? answer : forwardToObject(c, shardStub(c.env, shard), url);
}
