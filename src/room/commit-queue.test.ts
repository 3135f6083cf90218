import { describe, expect, it } from "vitest";
import { CommitQueue } from "./commit-queue";

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe("CommitQueue", () => {
  it("writes the first item at once and groups what arrives while a write is in flight", async () => {
    const batches: number[][] = [];
    const gates: ReturnType<typeof deferred>[] = [];
    const queue = new CommitQueue<number>(async (batch) => {
      batches.push(batch);
      const gate = deferred();
      gates.push(gate);
      await gate.promise;
    }, 100);
    queue.push(1);
    expect(batches).toEqual([[1]]);
    queue.push(2);
    queue.push(3);
    queue.push(4);
    expect(queue.waiting).toBe(3);
    gates[0]!.resolve();
    await Promise.resolve();
    await Promise.resolve();
    expect(batches).toEqual([[1], [2, 3, 4]]);
    gates[1]!.resolve();
    await new Promise((r) => setTimeout(r, 0));
    queue.push(5);
    expect(batches).toEqual([[1], [2, 3, 4], [5]]);
    gates[2]!.resolve();
  });

  it("never puts more than maxBatch items in one write and keeps arrival order", async () => {
    const batches: number[][] = [];
    let release!: () => void;
    const first = new Promise<void>((r) => (release = r));
    const queue = new CommitQueue<number>(async (batch) => {
      batches.push(batch);
      if (batches.length === 1) await first;
    }, 3);
    for (let i = 0; i < 8; i++) queue.push(i);
    release();
    await new Promise((r) => setTimeout(r, 0));
    expect(batches).toEqual([[0], [1, 2, 3], [4, 5, 6], [7]]);
  });

  it("has at most one write in flight", async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const queue = new CommitQueue<number>(async () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, 1));
      inFlight--;
    }, 2);
    for (let i = 0; i < 20; i++) queue.push(i);
    await new Promise((r) => setTimeout(r, 50));
    expect(maxInFlight).toBe(1);
    expect(queue.waiting).toBe(0);
  });
});
