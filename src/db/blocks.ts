/**
 * Blocks in D1, the record of who blocks whom (a user's own fact). Rooms keep the pairs among their
 * members (src/room/blocks.ts); these are the queries the Worker and the rooms ask D1.
 */
import { and, asc, eq, inArray, or, sql } from "drizzle-orm";
import type { User } from "../protocol/models";
import type { Database } from "./client";
import { blocks, chatMembers, users } from "./schema";

export interface BlockPair {
  blockerId: number;
  blockedId: number;
}

const pair = { blockerId: blocks.blockerId, blockedId: blocks.blockedId };
/** A list of ids as one JSON parameter (D1 binds at most 100 per statement). */
const inJson = (ids: readonly number[]) => sql`(SELECT value FROM json_each(${JSON.stringify(ids)}))`;

/** Records that `blockerId` blocks `blockedId`; doing it again changes nothing. */
export async function block(db: Database, blockerId: number, blockedId: number): Promise<void> {
  await db.insert(blocks).values({ blockerId, blockedId, createdAt: Date.now() }).onConflictDoNothing();
}

export async function unblock(db: Database, blockerId: number, blockedId: number): Promise<void> {
  await db.delete(blocks).where(and(eq(blocks.blockerId, blockerId), eq(blocks.blockedId, blockedId)));
}

/** The users `blockerId` blocks, by username. */
export async function blockedUsers(db: Database, blockerId: number): Promise<User[]> {
  return db
    .select({ id: users.id, username: users.username })
    .from(blocks)
    .innerJoin(users, eq(users.id, blocks.blockedId))
    .where(eq(blocks.blockerId, blockerId))
    .orderBy(asc(users.usernameKey));
}

/** Which of `candidates` block `userId` (one statement; the list travels as JSON). */
export async function blockersAmong(db: Database, userId: number, candidates: readonly number[]): Promise<number[]> {
  if (candidates.length === 0) return [];
  const rows = await db.select({ id: blocks.blockerId }).from(blocks).where(and(eq(blocks.blockedId, userId), sql`${blocks.blockerId} IN ${inJson(candidates)}`));
  return rows.map((r) => r.id);
}

/** The chats both users are members of (D1's copy of membership, which rooms write before they answer). */
export async function commonChats(db: Database, a: number, b: number): Promise<number[]> {
  const rows = await db.all<{ chat_id: number }>(
    sql`SELECT x.chat_id FROM ${chatMembers} x JOIN ${chatMembers} y ON y.chat_id = x.chat_id AND y.user_id = ${b} WHERE x.user_id = ${a}`,
  );
  return rows.map((r) => r.chat_id);
}

/** The blocks between `userId` and any of `others`, both ways. */
export async function blocksInvolving(db: Database, userId: number, others: readonly number[]): Promise<BlockPair[]> {
  if (others.length === 0) return [];
  return db
    .select(pair)
    .from(blocks)
    .where(
      or(
        and(eq(blocks.blockerId, userId), sql`${blocks.blockedId} IN ${inJson(others)}`),
        and(eq(blocks.blockedId, userId), sql`${blocks.blockerId} IN ${inJson(others)}`),
      ),
    );
}

/** The blocks among the members of a chat as D1 lists them (a room's first load). */
export function blocksAmongMembers(db: Database, chatId: number) {
  const members = db.select({ id: chatMembers.userId }).from(chatMembers).where(eq(chatMembers.chatId, chatId));
  return db.select(pair).from(blocks).where(and(inArray(blocks.blockerId, members), inArray(blocks.blockedId, members)));
}
