import { describe, expect, it } from "vitest";
import { isAfter, missingBefore, RecentOps, targets, type Op } from "./batch";

const ann = { id: 1, username: "ann" };
const bob = { id: 2, username: "bob" };
const socketOf = (socket: string, user = ann, version = 3) => ({ socket, user, session: { version, expiresAt: Date.now() + 60_000 } });
const frame = (n: number): Op => ({ kind: "all", frame: `f${n}` });

describe("positions", () => {
  it("order by epoch first, then by sequence", () => {
    expect(isAfter({ epoch: 1, seq: 5 }, { epoch: 1, seq: 4 })).toBe(true);
    expect(isAfter({ epoch: 1, seq: 4 }, { epoch: 1, seq: 4 })).toBe(false);
    expect(isAfter({ epoch: 2, seq: 1 }, { epoch: 1, seq: 900 })).toBe(true);
    expect(isAfter({ epoch: 1, seq: 900 }, { epoch: 2, seq: 0 })).toBe(false);
  });
});

describe("targets", () => {
  it("a frame to all skips the socket or the user it excepts", () => {
    const op: Op = { kind: "all", frame: "x", exceptSocket: "s1" };
    expect(targets(op, socketOf("s1"))).toBe(false);
    expect(targets(op, socketOf("s2"))).toBe(true);
    expect(targets({ kind: "all", frame: "x", exceptUser: ann.id }, socketOf("s2"))).toBe(false);
    expect(targets({ kind: "all", frame: "x", exceptUser: ann.id }, socketOf("s3", bob))).toBe(true);
  });

  it("a close names one socket, or a user's sockets below a token version", () => {
    expect(targets({ kind: "close", socket: "s1", code: 4003, reason: "" }, socketOf("s1"))).toBe(true);
    expect(targets({ kind: "close", socket: "s1", code: 4003, reason: "" }, socketOf("s2"))).toBe(false);
    expect(targets({ kind: "close", user: ann.id, code: 4003, reason: "" }, socketOf("s2"))).toBe(true);
    expect(targets({ kind: "close", user: ann.id, code: 4003, reason: "" }, socketOf("s3", bob))).toBe(false);
    expect(targets({ kind: "close", user: ann.id, belowVersion: 4, code: 4001, reason: "" }, socketOf("s2", ann, 3))).toBe(true);
    expect(targets({ kind: "close", user: ann.id, belowVersion: 4, code: 4001, reason: "" }, socketOf("s2", ann, 4))).toBe(false);
  });

  it("a frame or a session to one socket reaches that one only; receipts reach all", () => {
    expect(targets({ kind: "to", socket: "s1", frame: "x" }, socketOf("s1"))).toBe(true);
    expect(targets({ kind: "to", socket: "s1", frame: "x" }, socketOf("s2"))).toBe(false);
    expect(targets({ kind: "session", socket: "s2", session: { version: 1, expiresAt: 1 } }, socketOf("s1"))).toBe(false);
    expect(targets({ kind: "receipts", batched: "b", oneByOne: [] }, socketOf("s9", bob))).toBe(true);
  });
});

describe("missingBefore", () => {
  it("within an epoch the shard knows, a batch must follow the last position", () => {
    expect(missingBefore({ epoch: 2, seq: 7 }, { epoch: 2, first: 8 })).toBe(false);
    expect(missingBefore({ epoch: 2, seq: 7 }, { epoch: 2, first: 9 })).toBe(true);
    // A retried call whose first attempt had arrived: overlapping, nothing missing, even if the room suspected it.
    expect(missingBefore({ epoch: 2, seq: 7 }, { epoch: 2, first: 5, maybeGap: true })).toBe(false);
  });

  it("a shard that restarted trusts the room unless the room suspects a gap", () => {
    expect(missingBefore(undefined, { epoch: 2, first: 40 })).toBe(false);
    expect(missingBefore(undefined, { epoch: 2, first: 40, maybeGap: true })).toBe(true);
  });

  it("a newer room instance must start at its first operation, and say whether its last one may have left some unsent", () => {
    expect(missingBefore({ epoch: 1, seq: 7 }, { epoch: 2, first: 1 })).toBe(false);
    expect(missingBefore({ epoch: 1, seq: 7 }, { epoch: 2, first: 3 })).toBe(true);
    expect(missingBefore({ epoch: 1, seq: 7 }, { epoch: 2, first: 1, maybeGap: true })).toBe(true);
  });
});

describe("RecentOps", () => {
  it("gives a late joiner the operations after its position, or nothing when it is not behind", () => {
    const recent = new RecentOps(10);
    expect(recent.after({ epoch: 1, seq: 0 })).toEqual([]);
    for (let seq = 1; seq <= 5; seq++) recent.add({ epoch: 1, seq }, frame(seq));
    expect(recent.after({ epoch: 1, seq: 3 })!.map((o) => o.at.seq)).toEqual([4, 5]);
    expect(recent.after({ epoch: 1, seq: 5 })).toEqual([]);
    expect(recent.after({ epoch: 1, seq: 9 })).toEqual([]);
  });

  it("cannot catch up past what it holds: null, so the socket reconnects with since", () => {
    const recent = new RecentOps(3);
    for (let seq = 1; seq <= 6; seq++) recent.add({ epoch: 1, seq }, frame(seq));
    expect(recent.after({ epoch: 1, seq: 3 })!.map((o) => o.at.seq)).toEqual([4, 5, 6]);
    expect(recent.after({ epoch: 1, seq: 2 })).toBeNull();
    // A join from an earlier room instance while this one delivered: not from here.
    expect(recent.after({ epoch: 0, seq: 2 })).toBeNull();
    recent.clear();
    expect(recent.last).toBeUndefined();
  });
});
