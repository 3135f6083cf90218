/**
 * Who blocks whom among the chat's members, kept by the room so that sends (a direct chat refuses
 * a blocked sender), unread counts and push decide without a D1 query per message. D1's `blocks` is
 * the record; the room learns the pairs of its members:
 * - on its first load from D1 (the pairs among the members D1 lists, in the load's batch);
 * - when the Worker says a pair changed (`PUT`/`DELETE /api/users/:userId/block` calls every room
 *   the two share, after writing D1): the room reads that pair again;
 * - when a member joins: the room reads the newcomer's pairs with the other members, after the add's
 *   copy put the membership in D1.
 * Every D1 read goes through one queue, one at a time, each applied before the next starts, so the
 * last read applied is the newest. Why a read after the copy closes the race with a concurrent
 * block: the blocker's request finds the chats the two share in D1 after writing its block, so
 * either it sees the new membership (and tells this room), or its block was committed before the
 * room's read, which then sees it (docs/DECISIONS.md, "Blocks").
 */
import { and, eq, or } from "drizzle-orm";
import { nextRetry } from "./copy-schedule";
import { blocksInvolving, type BlockPair } from "../db/blocks";
import type { Database } from "../db/client";
import type { LogDatabase } from "./log/open";
import { logBlocks } from "./log/schema";

/** Where the users whose blocks are still to be read (a join whose read failed) wait, in the object's KV. */
const PENDING_KEY = "block_sync_pending";

export class RoomBlocks {
  /** Blocker → whom they block: memory, read from storage once per wake (a few rows at most). */
  private readonly byBlocker = new Map<number, Set<number>>();

  constructor(private readonly db: LogDatabase) {
    for (const row of db.select().from(logBlocks).all()) this.remember(row);
  }

  /**
   * Whether `recipientId` blocks `senderId`: no push and no unread count for the recipient from that
   * sender (the push path asks this through `ChatRoom.isBlockedBy`).
   */
  isBlockedBy(recipientId: number, senderId: number): boolean {
    return this.byBlocker.get(recipientId)?.has(senderId) ?? false;
  }

  /** Whom `userId` blocks. */
  blockedBy(userId: number): number[] {
    return [...(this.byBlocker.get(userId) ?? [])];
  }

  /** Who blocks `userId`. */
  blockersOf(userId: number): number[] {
    const blockers: number[] = [];
    for (const [blocker, blocked] of this.byBlocker) if (blocked.has(userId)) blockers.push(blocker);
    return blockers;
  }

  /** Every pair, as D1 had them at the room's first load. */
  replaceAll(pairs: readonly BlockPair[]): void {
    this.db.delete(logBlocks).run();
    this.byBlocker.clear();
    this.store(pairs);
  }

  /** The pairs between `a` and `b` (both ways) are `pairs` now. */
  replacePair(a: number, b: number, pairs: readonly BlockPair[]): void {
    this.db
      .delete(logBlocks)
      .where(or(and(eq(logBlocks.blockerId, a), eq(logBlocks.blockedId, b)), and(eq(logBlocks.blockerId, b), eq(logBlocks.blockedId, a))))
      .run();
    this.byBlocker.get(a)?.delete(b);
    this.byBlocker.get(b)?.delete(a);
    this.store(pairs);
  }

  /** Every pair involving `userId` (both ways) is one of `pairs` now. */
  replaceMember(userId: number, pairs: readonly BlockPair[]): void {
    this.db.delete(logBlocks).where(or(eq(logBlocks.blockerId, userId), eq(logBlocks.blockedId, userId))).run();
    this.byBlocker.delete(userId);
    for (const blocked of this.byBlocker.values()) blocked.delete(userId);
    this.store(pairs);
  }

  private store(pairs: readonly BlockPair[]): void {
    for (const p of pairs) {
      this.db.insert(logBlocks).values(p).onConflictDoNothing().run();
      this.remember(p);
    }
  }

  private remember({ blockerId, blockedId }: BlockPair): void {
    let set = this.byBlocker.get(blockerId);
    if (!set) this.byBlocker.set(blockerId, (set = new Set()));
    set.add(blockedId);
  }
}

export interface BlockSyncParts {
  blocks: RoomBlocks;
  /** D1 as the room reaches it now (behind its deadline). */
  db(): Database;
  kv: SyncKvStorage;
  activeMemberIds(): number[];
  /** Whether D1 has the room's membership (no member row waits for the copy). */
  membershipCopied(): boolean;
  scheduleAlarm(): void;
}

/** The room's reads of `blocks` in D1, one at a time (see the module's comment). */
export class BlockSync {
  /** When the alarm retries a newcomer's read that failed; null: none waits. */
  at: number | null = null;
  private failures = 0;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly room: BlockSyncParts) {
    if (this.pending().length > 0) this.at = Date.now();
  }

  /** The Worker changed the pair `a`–`b` in D1: read it again. Rejects when D1 cannot answer. */
  pair(a: number, b: number): Promise<void> {
    return this.serially(async () => this.room.blocks.replacePair(a, b, await blocksInvolving(this.room.db(), a, [b])));
  }

  /**
   * `userId` joined: their pairs with the other members are read once D1 has the membership (the
   * add's copy ran before this). A failed read is kept and retried by the alarm; never throws.
   */
  joined(userId: number): Promise<void> {
    this.room.kv.put(PENDING_KEY, [...new Set([...this.pending(), userId])]);
    return this.flush();
  }

  /** The alarm's part: a retry, when one is due. */
  async onAlarm(): Promise<void> {
    if (this.at !== null && this.at <= Date.now()) await this.flush();
  }

  private pending(): number[] {
    return this.room.kv.get<number[]>(PENDING_KEY) ?? [];
  }

  private flush(): Promise<void> {
    return this.serially(async () => {
      try {
        if (!this.room.membershipCopied()) throw new Error("the membership is not in D1 yet");
        for (const userId of this.pending()) {
          const others = this.room.activeMemberIds().filter((id) => id !== userId);
          this.room.blocks.replaceMember(userId, await blocksInvolving(this.room.db(), userId, others));
          this.room.kv.put(PENDING_KEY, this.pending().filter((id) => id !== userId));
        }
        this.failures = 0;
        this.at = null;
      } catch (err) {
        ({ failures: this.failures, at: this.at } = nextRetry(this.failures, Date.now()));
        console.error(`reading a new member's blocks failed (${this.failures} in a row); retrying`, err instanceof Error ? err.message : String(err));
        this.room.scheduleAlarm();
      }
    });
  }

  private serially<T>(read: () => Promise<T>): Promise<T> {
    const next = this.queue.then(read, read);
    this.queue = next.catch(() => {});
    return next;
  }
}
