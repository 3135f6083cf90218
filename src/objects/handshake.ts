import type { User } from "../protocol/models";

/**
 * Set by the Worker on every request it forwards to an object, after it verified the token; a
 * client's own copy is overwritten. Objects are reachable only through the Worker.
 */
export const VERIFIED_CALLER_HEADER = "X-Edge-Chat-Caller";

/** The token a socket lives by: revoked when its version is superseded, ended at its expiry. */
export interface Session {
  version: number;
  /** ms since the epoch. */
  expiresAt: number;
}

/** Who the Worker verified, and under which token. */
export interface Caller {
  user: User;
  session: Session;
}

export function verifiedCaller(request: Request): Caller | null {
  return JSON.parse(request.headers.get(VERIFIED_CALLER_HEADER) ?? "null") as Caller | null;
}

export const isUpgrade = (request: Request) => request.headers.get("Upgrade")?.toLowerCase() === "websocket";
