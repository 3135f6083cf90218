import { describe, expect, it } from "vitest";
import { PushPacer } from "./push-pacing";

/** Offers `ids` to one member at the given times and sends whatever is due as it comes: the pushes' (time, count). */
function run(times: number[], interval = 5000) {
  const pacer = new PushPacer(interval);
  const pushes: [number, number][] = [];
  const sendDue = (now: number) => {
    for (const userId of pacer.due(now)) {
      const taken = pacer.take(userId, now);
      if (taken) pushes.push([now, taken.count]);
    }
  };
  times.forEach((t, i) => {
    // Whatever fell due before this message goes first, at its own time.
    const next = pacer.next();
    if (next !== null && next <= t) sendDue(next);
    pacer.offer(1, i + 1, t);
    sendDue(t);
  });
  for (let next = pacer.next(); next !== null; next = pacer.next()) sendDue(next);
  return pushes;
}

describe("PushPacer", () => {
  it("pushes the first message at once and folds the rest of a burst into one push at the interval's end", () => {
    expect(run([0, 100, 200, 300, 400, 500, 600, 700, 800, 900])).toEqual([[0, 1], [5000, 9]]);
  });

  it("keeps a burst spread over the interval to at most three pushes", () => {
    const spread = Array.from({ length: 10 }, (_, i) => i * 1000);
    const pushes = run(spread);
    expect(pushes.length).toBeLessThanOrEqual(3);
    expect(pushes.reduce((n, [, count]) => n + count, 0)).toBe(10);
  });

  it("pushes again at once after a quiet interval", () => {
    expect(run([0, 6000, 20_000])).toEqual([[0, 1], [6000, 1], [20_000, 1]]);
  });

  it("never pushes a member twice within the interval", () => {
    const pushes = run(Array.from({ length: 50 }, (_, i) => i * 370));
    for (let i = 1; i < pushes.length; i++) expect(pushes[i]![0] - pushes[i - 1]![0]).toBeGreaterThanOrEqual(5000);
  });

  it("drops what waited when the member saw the chat, and still paces the next push", () => {
    const pacer = new PushPacer(5000);
    pacer.offer(7, 1, 0);
    expect(pacer.take(7, 0)).toEqual({ count: 1, newestId: 1 });
    expect(pacer.offer(7, 2, 1000)).toBe(5000);
    pacer.clear(7);
    expect(pacer.next()).toBeNull();
    expect(pacer.take(7, 5000)).toBeNull();
    expect(pacer.offer(7, 3, 2000)).toBe(5000);
    expect(pacer.take(7, 5000)).toEqual({ count: 1, newestId: 3 });
  });

  it("knows since when a member's messages wait, and skips members it is told to when naming the next due", () => {
    const pacer = new PushPacer(5000);
    pacer.offer(1, 1, 100);
    pacer.offer(1, 2, 300);
    pacer.offer(2, 3, 50);
    expect(pacer.waitingSince(1)).toBe(100);
    expect(pacer.next()).toBe(50);
    expect(pacer.next(new Set([2]))).toBe(100);
    pacer.take(1, 400);
    expect(pacer.waitingSince(1)).toBeNull();
  });

  it("paces each member on their own", () => {
    const pacer = new PushPacer(5000);
    pacer.offer(1, 1, 0);
    pacer.take(1, 0);
    expect(pacer.offer(1, 2, 100)).toBe(5000);
    expect(pacer.offer(2, 2, 100)).toBe(100);
  });

  it("forgets members with nothing waiting once their pace has passed", () => {
    const pacer = new PushPacer(5000);
    pacer.offer(1, 1, 0);
    pacer.take(1, 0);
    pacer.offer(2, 1, 0);
    pacer.prune(4999);
    expect(pacer.size).toBe(2);
    pacer.prune(5000);
    expect(pacer.size).toBe(1);
  });
});
