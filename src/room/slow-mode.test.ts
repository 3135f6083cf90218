import { describe, expect, it } from "vitest";
import { expiryRound } from "./retention";
import { SlowMode } from "./slow-mode";

describe("SlowMode", () => {
  it("makes a member wait out the period after their last send, reading the log once per longer period", () => {
    const reads: number[] = [];
    const log = [{ senderId: 1, createdAt: 9_000 }];
    const slow = new SlowMode((since) => (reads.push(since), log.filter((r) => r.createdAt >= since)));
    expect(slow.wait(1, 0, 10_000)).toBe(0);
    expect(reads).toEqual([]);
    expect(slow.wait(1, 5, 10_000)).toBe(4_000);
    expect(slow.wait(2, 5, 10_000)).toBe(0);
    expect(slow.wait(1, 5, 14_000)).toBe(0);
    expect(reads).toEqual([5_000]);
    slow.sent(2, 14_000);
    expect(slow.wait(2, 5, 15_000)).toBe(4_000);
    // A longer period reads further back once.
    expect(slow.wait(1, 60, 15_000)).toBe(54_000);
    expect(reads).toEqual([5_000, -45_000]);
    // An older send never replaces a newer one.
    slow.sent(2, 1_000);
    expect(slow.wait(2, 5, 15_000)).toBe(4_000);
  });
});

describe("expiryRound", () => {
  it("is the expiry plus a slack of a third of the period, at most 20 s", () => {
    expect(expiryRound(1_000, 60)).toBe(1_000 + 60_000 + 20_000);
    expect(expiryRound(1_000, 3)).toBe(1_000 + 3_000 + 1_000);
    expect(expiryRound(0, 86_400)).toBe(86_400_000 + 20_000);
  });
});
