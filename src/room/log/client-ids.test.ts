import { describe, expect, it } from "vitest";
import { ClientIdWindow, SPILL_CAPACITY, type FindInRange, type ReadNewest } from "./client-ids";

const HOUR = 60 * 60 * 1000;
const NOW = 1_800_000_000_000;

type Row = { id: number; senderId: number; clientId: string | null; createdAt: number };

/** A log of rows in id order, read as the room's prepared query does; counts the rows it hands out. */
function fakeLog(rows: Row[]) {
  const stats = { reads: 0, rows: 0, lookups: 0, lookupRows: 0 };
  const read: ReadNewest = (beforeId, limit) => {
    stats.reads++;
    const page = rows.filter((r) => r.id < beforeId).sort((a, b) => b.id - a.id).slice(0, limit);
    stats.rows += page.length;
    return page;
  };
  /** As the primary-key range scan reads them: every row of the range. */
  const find: FindInRange = (senderId, clientId, fromId, toId, since) => {
    stats.lookups++;
    const range = rows.filter((r) => r.id >= fromId && r.id <= toId);
    stats.lookupRows += range.length;
    return range.filter((r) => r.senderId === senderId && r.clientId === clientId && r.createdAt >= since).sort((a, b) => b.id - a.id)[0]?.id;
  };
  /** The log and the window over it, as a room builds them. */
  const window = (windowMs?: number, inMemory?: number) => new ClientIdWindow(read, find, windowMs, inMemory);
  return { read, find, stats, rows, window };
}

describe("ClientIdWindow", () => {
  it("finds a clientId stored before the room started, per sender", () => {
    const { window: makeWindow } = fakeLog([
      { id: 1, senderId: 7, clientId: "a", createdAt: NOW - HOUR },
      { id: 2, senderId: 8, clientId: "a", createdAt: NOW - HOUR },
      { id: 3, senderId: 7, clientId: null, createdAt: NOW - HOUR },
    ]);
    const window = makeWindow();
    expect(window.find(7, "a", NOW)).toBe(1);
    expect(window.find(8, "a", NOW)).toBe(2);
    expect(window.find(9, "a", NOW)).toBeUndefined();
    expect(window.find(7, "b", NOW)).toBeUndefined();
  });

  it("finds what was appended since, and loads the log only once", () => {
    const { window: makeWindow, stats } = fakeLog([{ id: 1, senderId: 7, clientId: "a", createdAt: NOW }]);
    const window = makeWindow();
    window.add({ id: 2, senderId: 7, clientId: "b", createdAt: NOW }, NOW);
    expect(window.find(7, "a", NOW)).toBe(1);
    expect(window.find(7, "b", NOW)).toBe(2);
    expect(stats.reads).toBe(1);
  });

  it("forgets a clientId once its message is older than the time window", () => {
    const { window: makeWindow } = fakeLog([
      { id: 1, senderId: 7, clientId: "old", createdAt: NOW - 25 * HOUR },
      { id: 2, senderId: 7, clientId: "day", createdAt: NOW - 23 * HOUR },
    ]);
    const window = makeWindow();
    expect(window.find(7, "old", NOW)).toBeUndefined();
    expect(window.find(7, "day", NOW)).toBe(2);
    expect(window.find(7, "day", NOW + 2 * HOUR)).toBeUndefined();
  });

  it("holds only the newest messages of the count in memory, and finds older ones of the day in storage (time bound only)", () => {
    const { window: makeWindow, rows, stats } = fakeLog([]);
    const window = makeWindow(24 * HOUR, 3);
    const append = (row: Row) => {
      rows.push(row);
      window.add(row, row.createdAt);
    };
    append({ id: 1, senderId: 7, clientId: "one", createdAt: NOW });
    append({ id: 2, senderId: 7, clientId: "two", createdAt: NOW });
    append({ id: 3, senderId: 7, clientId: null, createdAt: NOW });
    expect(window.find(7, "one", NOW)).toBe(1);
    expect(stats.lookups).toBe(0);
    append({ id: 4, senderId: 7, clientId: null, createdAt: NOW });
    // Out of memory (behind the newest 3 messages), still within 24 hours: found in storage.
    expect(window.size).toBe(1);
    expect(window.find(7, "one", NOW)).toBe(1);
    expect(stats.lookups).toBe(1);
    expect(window.find(7, "two", NOW)).toBe(2);
    // Another sender's, or a clientId never sent: not there, and (filters permitting) not looked up.
    expect(window.find(8, "one", NOW)).toBeUndefined();
    expect(window.find(7, "three", NOW)).toBeUndefined();
    expect(stats.lookups).toBe(1);
    // Past 24 hours it is gone, by time.
    expect(window.find(7, "one", NOW + 24 * HOUR + 1)).toBeUndefined();
    expect(window.spilledBlocks).toBe(0);
  });

  it("a busy day: 30,000 messages, memory for 20,000, every resend found, new clientIds read (almost) nothing", () => {
    const rows: Row[] = Array.from({ length: 30_000 }, (_, i) => ({ id: i + 1, senderId: 1 + (i % 5), clientId: `c${i + 1}`, createdAt: NOW - 23 * HOUR + i * 1000 }));
    const { window: makeWindow, stats } = fakeLog(rows);
    const window = makeWindow();
    const now = NOW - 23 * HOUR + 30_000 * 1000;
    // Memory holds the newest 20,000; the 10,000 before them are in blocks.
    expect(window.find(1, "c30000", now)).toBeUndefined();
    expect(window.find(5, "c30000", now)).toBe(30_000);
    expect(window.size).toBe(20_000);
    expect(window.spilledBlocks).toBe(Math.ceil(10_000 / SPILL_CAPACITY));
    expect(stats.lookups).toBe(0);
    for (const id of [1, 2, 5000, 9999, 10_000, 10_001]) expect(window.find(1 + ((id - 1) % 5), `c${id}`, now), `c${id}`).toBe(id);
    // A real resend reads one block of ids (10,001 is still in memory).
    expect(stats.lookups).toBe(5);
    expect(stats.lookupRows).toBeLessThanOrEqual(5 * SPILL_CAPACITY);
    const before = { ...stats };
    for (let i = 0; i < 2000; i++) expect(window.find(1, `new${i}`, now)).toBeUndefined();
    // 2,000 new clientIds: a false positive of a filter reads a block; expected about 0.1 of one here.
    expect(stats.lookups - before.lookups).toBeLessThanOrEqual(2);
    // The day moves on: messages older than 24 hours leave, the blocks with them.
    expect(window.find(1, "c1", now + 24 * HOUR)).toBeUndefined();
    expect(window.spilledBlocks).toBe(0);
  });

  it("reads at start only the rows of the window, in chunks, however long the log", () => {
    const rows: Row[] = Array.from({ length: 5000 }, (_, i) => ({ id: i + 1, senderId: 7, clientId: `c${i + 1}`, createdAt: NOW - (5000 - i) * 60_000 }));
    // 5,000 messages one a minute: the last 24 hours hold 1,440 of them.
    const { window: makeWindow, stats } = fakeLog(rows);
    const window = makeWindow();
    expect(window.find(7, "c5000", NOW)).toBe(5000);
    expect(window.find(7, "c3561", NOW)).toBe(3561);
    expect(window.find(7, "c3560", NOW)).toBeUndefined();
    expect(window.size).toBe(1440);
    expect(stats.rows).toBeLessThan(1440 + 64 + 1);
  });

  it("reads at start the whole day, the part beyond memory into blocks", () => {
    const rows: Row[] = Array.from({ length: 300 }, (_, i) => ({ id: i + 1, senderId: 7, clientId: `c${i + 1}`, createdAt: NOW }));
    const { window: makeWindow, stats } = fakeLog(rows);
    const window = makeWindow(24 * HOUR, 100);
    expect(window.find(7, "c201", NOW)).toBe(201);
    expect(window.size).toBe(100);
    expect(stats.rows).toBe(300);
    expect(window.find(7, "c200", NOW)).toBe(200);
    expect(window.find(7, "c1", NOW)).toBe(1);
  });

  it("a clientId used again after its window points at the newer message", () => {
    const { window: makeWindow } = fakeLog([]);
    const window = makeWindow(HOUR, 100);
    window.add({ id: 1, senderId: 7, clientId: "k", createdAt: NOW }, NOW);
    window.add({ id: 2, senderId: 7, clientId: "k", createdAt: NOW + 2 * HOUR }, NOW + 2 * HOUR);
    expect(window.find(7, "k", NOW + 2 * HOUR)).toBe(2);
  });
});
