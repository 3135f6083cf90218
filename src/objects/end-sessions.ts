/**
 * A revocation reaching live sockets: after logout or a password change bumped the user's token
 * version, every object that may hold one of their sockets closes those opened with an older token
 * (close 4001) and refuses such tokens from then on.
 */
import type { Database } from "../db/client";
import { chatIdsOf } from "../db/chats";
import { chatRoom, inboxOf } from "./stubs";

/** Calls in flight at a time: a user in thousands of chats must not open thousands of calls at once. */
const CONCURRENCY = 50;

/**
 * Ends the user's sessions older than `version` in their inbox and in each of their chats' rooms.
 * A room that cannot be reached is logged and skipped; its sockets of the user end at their
 * token's expiry instead. Resolves when every call has settled, so a caller's 204 means "closed".
 */
export async function endSessions(env: Env, db: Database, userId: number, version: number): Promise<void> {
  const targets: { endSessions(userId: number, version: number): Promise<number> }[] = [inboxOf(env, userId)];
  for (const chatId of await chatIdsOf(db, userId)) targets.push(chatRoom(env, chatId));
  let next = 0;
  const worker = async () => {
    while (next < targets.length) {
      const target = targets[next++]!;
      try {
        await target.endSessions(userId, version);
      } catch (err) {
        console.error("could not end sessions in an object", err instanceof Error ? err.message : String(err));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, targets.length) }, worker));
}
