import { describe, expect, it } from "vitest";
import { ClientIdWindow, type ReadNewest } from "./client-ids";

const HOUR = 60 * 60 * 1000;
const NOW = 1_800_000_000_000;

type Row = { id: number; senderId: number; clientId: string | null; createdAt: number };

/** A log of rows in id order, read as the room's prepared query does; counts the rows it hands out. */
function fakeLog(rows: Row[]) {
  const stats = { reads: 0, rows: 0 };
  const read: ReadNewest = (beforeId, limit) => {
    stats.reads++;
    const page = rows.filter((r) => r.id < beforeId).sort((a, b) => b.id - a.id).slice(0, limit);
    stats.rows += page.length;
    return page;
  };
  return { read, stats };
}

describe("ClientIdWindow", () => {
  it("finds a clientId stored before the room started, per sender", () => {
    const { read } = fakeLog([
      { id: 1, senderId: 7, clientId: "a", createdAt: NOW - HOUR },
      { id: 2, senderId: 8, clientId: "a", createdAt: NOW - HOUR },
      { id: 3, senderId: 7, clientId: null, createdAt: NOW - HOUR },
    ]);
    const window = new ClientIdWindow(read);
    expect(window.find(7, "a", NOW)).toBe(1);
    expect(window.find(8, "a", NOW)).toBe(2);
    expect(window.find(9, "a", NOW)).toBeUndefined();
    expect(window.find(7, "b", NOW)).toBeUndefined();
  });

  it("finds what was appended since, and loads the log only once", () => {
    const { read, stats } = fakeLog([{ id: 1, senderId: 7, clientId: "a", createdAt: NOW }]);
    const window = new ClientIdWindow(read);
    window.add({ id: 2, senderId: 7, clientId: "b", createdAt: NOW }, NOW);
    expect(window.find(7, "a", NOW)).toBe(1);
    expect(window.find(7, "b", NOW)).toBe(2);
    expect(stats.reads).toBe(1);
  });

  it("forgets a clientId once its message is older than the time window", () => {
    const { read } = fakeLog([
      { id: 1, senderId: 7, clientId: "old", createdAt: NOW - 25 * HOUR },
      { id: 2, senderId: 7, clientId: "day", createdAt: NOW - 23 * HOUR },
    ]);
    const window = new ClientIdWindow(read);
    expect(window.find(7, "old", NOW)).toBeUndefined();
    expect(window.find(7, "day", NOW)).toBe(2);
    expect(window.find(7, "day", NOW + 2 * HOUR)).toBeUndefined();
  });

  it("keeps only the newest messages of the count window, counting messages without a clientId", () => {
    const { read } = fakeLog([]);
    const window = new ClientIdWindow(read, 24 * HOUR, 3);
    window.add({ id: 1, senderId: 7, clientId: "one", createdAt: NOW }, NOW);
    window.add({ id: 2, senderId: 7, clientId: "two", createdAt: NOW }, NOW);
    window.add({ id: 3, senderId: 7, clientId: null, createdAt: NOW }, NOW);
    expect(window.find(7, "one", NOW)).toBe(1);
    window.add({ id: 4, senderId: 7, clientId: null, createdAt: NOW }, NOW);
    expect(window.find(7, "one", NOW)).toBeUndefined();
    expect(window.find(7, "two", NOW)).toBe(2);
    expect(window.size).toBe(1);
  });

  it("reads at start only the rows of the window, in chunks, however long the log", () => {
    const rows: Row[] = Array.from({ length: 5000 }, (_, i) => ({ id: i + 1, senderId: 7, clientId: `c${i + 1}`, createdAt: NOW - (5000 - i) * 60_000 }));
    // 5,000 messages one a minute: the last 24 hours hold 1,440 of them.
    const { read, stats } = fakeLog(rows);
    const window = new ClientIdWindow(read);
    expect(window.find(7, "c5000", NOW)).toBe(5000);
    expect(window.find(7, "c3561", NOW)).toBe(3561);
    expect(window.find(7, "c3560", NOW)).toBeUndefined();
    expect(window.size).toBe(1440);
    expect(stats.rows).toBeLessThan(1440 + 64 + 1);
  });

  it("stops the start-up read at the count window", () => {
    const rows: Row[] = Array.from({ length: 300 }, (_, i) => ({ id: i + 1, senderId: 7, clientId: `c${i + 1}`, createdAt: NOW }));
    const { read, stats } = fakeLog(rows);
    const window = new ClientIdWindow(read, 24 * HOUR, 100);
    expect(window.find(7, "c201", NOW)).toBe(201);
    expect(window.find(7, "c200", NOW)).toBeUndefined();
    expect(stats.rows).toBe(100);
  });

  it("a clientId used again after its window points at the newer message", () => {
    const { read } = fakeLog([]);
    const window = new ClientIdWindow(read, HOUR, 100);
    window.add({ id: 1, senderId: 7, clientId: "k", createdAt: NOW }, NOW);
    window.add({ id: 2, senderId: 7, clientId: "k", createdAt: NOW + 2 * HOUR }, NOW + 2 * HOUR);
    expect(window.find(7, "k", NOW + 2 * HOUR)).toBe(2);
  });
});
