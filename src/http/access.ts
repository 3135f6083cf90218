import type { Context } from "hono";
import { findAccess } from "../db/chats";
import type { Role } from "../protocol/models";
import type { AppEnv } from "./env";
import { forbidden, notFound } from "./errors";

/** The caller's role in a chat: 404 if the chat does not exist, 403 if they are not a member. */
export async function requireMember(c: Context<AppEnv>, chatId: number) {
  // On the primary: a removal must not be missed by a replica behind by its lag.
  const access = await findAccess(c.get("primary"), chatId, c.get("user").id);
  if (!access) throw notFound("chat not found");
  if (!access.role) throw forbidden("you are not a member of this chat");
  return { type: access.type, role: access.role as Role };
}
