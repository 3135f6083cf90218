import { describe, expect, it } from "vitest";
import { Coalescer } from "./coalescer";

/** A hand-driven clock: scheduled callbacks run only when the test says so. */
function manualTimers() {
  const queue: (() => void)[] = [];
  return { schedule: (fn: () => void) => queue.push(fn), runNext: () => queue.shift()?.(), get pending() { return queue.length; } };
}
const settle = () => new Promise((r) => setTimeout(r, 0));

describe("Coalescer", () => {
  it("flushes once per window with the latest value", async () => {
    const timers = manualTimers();
    const flushed: number[] = [];
    const c = new Coalescer<number>(250, async (v) => void flushed.push(v), timers.schedule);
    for (let i = 1; i <= 10; i++) c.offer(i);
    expect(timers.pending).toBe(1);
    timers.runNext();
    await settle();
    expect(flushed).toEqual([10]);
    expect(timers.pending).toBe(0);
    c.offer(11);
    timers.runNext();
    await settle();
    expect(flushed).toEqual([10, 11]);
  });

  it("never overlaps flushes: values offered during a flush wait for the next window", async () => {
    const timers = manualTimers();
    const flushed: number[] = [];
    let release!: () => void;
    const c = new Coalescer<number>(250, async (v) => {
      flushed.push(v);
      if (v === 1) await new Promise<void>((r) => (release = r));
    }, timers.schedule);
    c.offer(1);
    timers.runNext();
    c.offer(2);
    c.offer(3);
    expect(timers.pending).toBe(0);
    release();
    await settle();
    expect(timers.pending).toBe(1);
    timers.runNext();
    await settle();
    expect(flushed).toEqual([1, 3]);
  });

  it("keeps going after a failed flush", async () => {
    const timers = manualTimers();
    const flushed: number[] = [];
    const c = new Coalescer<number>(250, async (v) => {
      if (v === 1) throw new Error("inbox down");
      flushed.push(v);
    }, timers.schedule);
    const errors = console.error;
    console.error = () => {};
    try {
      c.offer(1);
      timers.runNext();
      await settle();
      c.offer(2);
      timers.runNext();
      await settle();
    } finally {
      console.error = errors;
    }
    expect(flushed).toEqual([2]);
  });
});
