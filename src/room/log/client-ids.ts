/**
 * Which message a sender's clientId stored, for the chat's messages of the last 24 hours, without a
 * storage index.
 *
 * A unique index on (sender, clientId) made every message cost two storage rows written, the row
 * and its index entry, and rows written are what Durable Object storage bills. Resends come from a
 * client that lost an ack, so they arrive soon after the first send: the room keeps the clientIds of
 * its recent messages in memory instead, loaded from the log once after the room starts and kept
 * current by every append. The window (docs/PROTOCOL.md, Idempotency) is 24 hours, by time only.
 *
 * Memory holds the full clientIds of at most the newest `windowMessages` messages (20,000: about
 * 2 MB). A chat busier than that within a day keeps the rest of its day as Bloom filters (about 3
 * bytes per message, in blocks of `SPILL_CAPACITY` ids): a clientId not in memory is looked up in
 * storage only when a filter of a block of the last day says it may be there, and then among that
 * block's ids only (a primary-key range; no index). A new message in such a chat therefore reads
 * nothing more unless a filter errs (about 1 in 60,000 per block), and a real resend reads one block.
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

/**
 * The newest message with ids `fromId`–`toId` that `senderId` stored with `clientId` and that is not
 * older than `since` (ms): a lookup among one block of the log's primary key.
 */
export type FindInRange = (senderId: number, clientId: string, fromId: number, toId: number, since: number) => number | undefined;

const LOAD_CHUNK = 64;
/** ClientIds per Bloom filter block. */
export const SPILL_CAPACITY = 4096;
/** Bits per clientId and probes per lookup: a false positive about once in 60,000 lookups per block. */
const BITS_PER_ENTRY = 24;
const PROBES = 16;
const keyOf = (senderId: number, clientId: string) => `${senderId}\u0000${clientId}`;

/** Two independent 32-bit hashes of a key (FNV-1a, and FNV-1a with another basis and a final mix). */
function hashes(key: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  b = Math.imul(b ^ (b >>> 13), 0xc2b2ae35);
  return [a >>> 0, (b ^ (b >>> 16)) >>> 0 | 1];
}

/** A block of clientIds that left memory by count while still inside the time window. */
class Spill {
  private readonly bits = new Uint32Array((SPILL_CAPACITY * BITS_PER_ENTRY) / 32);
  entries = 0;
  fromId = Number.MAX_SAFE_INTEGER;
  toId = 0;
  newestAt = -Infinity;

  add(entry: ClientIdEntry): void {
    const [h1, h2] = hashes(keyOf(entry.senderId, entry.clientId));
    const m = this.bits.length * 32;
    for (let i = 0; i < PROBES; i++) {
      const bit = (h1 + Math.imul(i, h2)) >>> 0;
      const at = bit % m;
      this.bits[at >>> 5]! |= 1 << (at & 31);
    }
    this.entries++;
    this.fromId = Math.min(this.fromId, entry.id);
    this.toId = Math.max(this.toId, entry.id);
    this.newestAt = Math.max(this.newestAt, entry.createdAt);
  }

  mightHold(h1: number, h2: number): boolean {
    const m = this.bits.length * 32;
    for (let i = 0; i < PROBES; i++) {
      const at = ((h1 + Math.imul(i, h2)) >>> 0) % m;
      if ((this.bits[at >>> 5]! & (1 << (at & 31))) === 0) return false;
    }
    return true;
  }
}

export class ClientIdWindow {
  private readonly ids = new Map<string, number>();
  /** In id order: the oldest entry leaves first. */
  private readonly order: ClientIdEntry[] = [];
  /** Index in `order` of the oldest entry still in the window (shifting an array is O(n)). */
  private head = 0;
  /** The newest message id known (clientId or not): the count bound counts every message. */
  private newestId = 0;
  private loaded = false;
  /** The clientIds of the last day that memory no longer holds, oldest block first. */
  private spills: Spill[] = [];

  constructor(
    private readonly readNewest: ReadNewest,
    private readonly findInRange: FindInRange,
    private readonly windowMs: number = limits.clientIdWindowMs,
    /** How many of the newest messages memory holds the clientIds of; older ones of the day are spilled. */
    private readonly windowMessages: number = limits.clientIdWindowMessages,
  ) {}

  /** The id of the message `senderId` stored with `clientId`, if it is in the window (24 hours). */
  find(senderId: number, clientId: string, now: number): number | undefined {
    this.load(now);
    this.expire(now);
    const key = keyOf(senderId, clientId);
    const id = this.ids.get(key);
    if (id !== undefined || this.spills.length === 0) return id;
    const [h1, h2] = hashes(key);
    const cutoff = now - this.windowMs;
    // Newest block first: a clientId used again is its newest message.
    for (let i = this.spills.length - 1; i >= 0; i--) {
      const spill = this.spills[i]!;
      if (spill.newestAt < cutoff || !spill.mightHold(h1, h2)) continue;
      const found = this.findInRange(senderId, clientId, spill.fromId, spill.toId, cutoff);
      if (found !== undefined) return found;
    }
    return undefined;
  }

  /** Blocks of spilled clientIds (for tests and the memory note in docs). */
  get spilledBlocks(): number {
    return this.spills.length;
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
    // Read newest first: the first `windowMessages` go to memory, the rest of the day to blocks.
    const older: Spill[] = [];
    let before = Number.MAX_SAFE_INTEGER;
    let seen = 0;
    for (;;) {
      const rows = this.readNewest(before, LOAD_CHUNK);
      for (const row of rows) {
        if (row.createdAt < cutoff) break;
        if (seen === 0) this.newestId = row.id;
        seen++;
        if (row.clientId === null) continue;
        const entry = { id: row.id, senderId: row.senderId, clientId: row.clientId, createdAt: row.createdAt };
        if (seen <= this.windowMessages) {
          found.push(entry);
        } else {
          if (older.length === 0 || older.at(-1)!.entries >= SPILL_CAPACITY) older.push(new Spill());
          older.at(-1)!.add(entry);
        }
      }
      const last = rows.at(-1);
      if (!last || last.createdAt < cutoff || rows.length < LOAD_CHUNK) break;
      before = last.id;
    }
    this.spills = older.reverse();
    for (const entry of found.reverse()) {
      this.order.push(entry);
      this.ids.set(keyOf(entry.senderId, entry.clientId), entry.id);
    }
  }

  /**
   * Drops entries older than the window; entries behind the newest `windowMessages` messages but
   * still in it move to a block. Blocks go once their newest entry left the window.
   */
  private expire(now: number): void {
    const cutoff = now - this.windowMs;
    const lowestId = this.newestId - this.windowMessages;
    while (this.head < this.order.length) {
      const oldest = this.order[this.head]!;
      if (oldest.createdAt >= cutoff && oldest.id > lowestId) break;
      const key = keyOf(oldest.senderId, oldest.clientId);
      if (this.ids.get(key) === oldest.id) this.ids.delete(key);
      if (oldest.createdAt >= cutoff) {
        let spill = this.spills.at(-1);
        if (!spill || spill.entries >= SPILL_CAPACITY) this.spills.push((spill = new Spill()));
        spill.add(oldest);
      }
      this.head++;
    }
    while (this.spills.length > 0 && this.spills[0]!.newestAt < cutoff) this.spills.shift();
    // Compact now and then, so the array does not grow for the life of a busy room.
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order.splice(0, this.head);
      this.head = 0;
    }
  }
}
