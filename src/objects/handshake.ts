import type { User } from "../protocol/models";

/**
 * Set by the Worker on every request it forwards to an object, after it verified the token; a
 * client's own copy is overwritten. Objects are reachable only through the Worker.
 */
export const VERIFIED_USER_HEADER = "X-Edge-Chat-User";

export function verifiedUser(request: Request): User | null {
  return JSON.parse(request.headers.get(VERIFIED_USER_HEADER) ?? "null") as User | null;
}

export const isUpgrade = (request: Request) => request.headers.get("Upgrade")?.toLowerCase() === "websocket";
