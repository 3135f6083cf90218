/**
 * Which message a sender's clientId stored, for the chat's recent messages, without a storage index.
 *
 * A unique index on (sender, clientId) made every message cost two storage rows written, the row
 * and its index entry, and rows written are what Durable Object storage bills. Resends come from a
 * client that lost an ack, so they arrive soon after the first send: the room keeps the clientIds of
 * its recent messages in memory instead, loaded from the log once after the room starts (a bounded
 * read of the newest rows) and kept current by every append. The window (docs/PROTOCOL.md,
 * Idempotency) is what a resend is recognised within.
 */

import { limits } from "../../protocol/limits";

/** One logged message that carried a clientId. */
export interface ClientIdEntry {
  id: number;
  senderId: number;
  clientId: string;
  createdAt: number;
}

/**
 * Reads, newest first, up to `limit` logged messages with id below `beforeId` (clientId null for
 * those without one). The window's start-up read, in chunks, so a quiet chat reads little more than
 * what its last day holds.
 */
export type ReadNewest = (beforeId: number, limit: number) => { id: number; senderId: number; clientId: string | null; createdAt: number }[];

const LOAD_CHUNK = 64;
const keyOf = (senderId: number, clientId: string) => `${senderId}\u0000${clientId}`;

export class ClientIdWindow {
  private readonly ids = new Map<string, number>();
  /** In id order: the oldest entry leaves first. */
  private readonly order: ClientIdEntry[] = [];
  /** Index in `order` of the oldest entry still in the window (shifting an array is O(n)). */
  private head = 0;
  /** The newest message id known (clientId or not): the count bound counts every message. */
  private newestId = 0;
  private loaded = false;

  constructor(
    private readonly readNewest: ReadNewest,
    private readonly windowMs: number = limits.clientIdWindowMs,
    /** The count bound also caps the memory a busy room holds. */
    private readonly windowMessages: number = limits.clientIdWindowMessages,
  ) {}

  /** The id of the message `senderId` stored with `clientId`, if it is in the window. */
  find(senderId: number, clientId: string, now: number): number | undefined {
    this.load(now);
    this.expire(now);
    return this.ids.get(keyOf(senderId, clientId));
  }

  /** Records a message just appended (call after it is written). */
  add(entry: { id: number; senderId: number; clientId?: string | null; createdAt: number }, now: number): void {
    this.load(now);
    this.newestId = Math.max(this.newestId, entry.id);
    if (entry.clientId != null) {
      const kept = { id: entry.id, senderId: entry.senderId, clientId: entry.clientId, createdAt: entry.createdAt };
      this.order.push(kept);
      this.ids.set(keyOf(kept.senderId, kept.clientId), kept.id);
    }
    this.expire(now);
  }

  /** How many clientIds the window holds (for tests and the memory note in docs). */
  get size(): number {
    return this.ids.size;
  }

  private load(now: number): void {
    if (this.loaded) return;
    this.loaded = true;
    const cutoff = now - this.windowMs;
    const found: ClientIdEntry[] = [];
    let before = Number.MAX_SAFE_INTEGER;
    let seen = 0;
    for (;;) {
      const rows = this.readNewest(before, Math.min(LOAD_CHUNK, this.windowMessages - seen));
      for (const row of rows) {
        if (row.createdAt < cutoff) break;
        if (seen === 0) this.newestId = row.id;
        seen++;
        if (row.clientId !== null) found.push({ id: row.id, senderId: row.senderId, clientId: row.clientId, createdAt: row.createdAt });
      }
      const last = rows.at(-1);
      if (!last || last.createdAt < cutoff || rows.length < LOAD_CHUNK || seen >= this.windowMessages) break;
      before = last.id;
    }
    for (const entry of found.reverse()) {
      this.order.push(entry);
      this.ids.set(keyOf(entry.senderId, entry.clientId), entry.id);
    }
  }

  /** Drops entries older than the window or behind the newest `windowMessages` messages. */
  private expire(now: number): void {
    const cutoff = now - this.windowMs;
    const lowestId = this.newestId - this.windowMessages;
    while (this.head < this.order.length) {
      const oldest = this.order[this.head]!;
      if (oldest.createdAt >= cutoff && oldest.id > lowestId) break;
      const key = keyOf(oldest.senderId, oldest.clientId);
      if (this.ids.get(key) === oldest.id) this.ids.delete(key);
      this.head++;
    }
    // Compact now and then, so the array does not grow for the life of a busy room.
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order.splice(0, this.head);
      this.head = 0;
    }
  }
}
