import { describe, expect, it } from "vitest";
import { TypingTracker } from "./typing";

const ann = { id: 1, username: "ann" };
const bob = { id: 2, username: "bob" };

describe("TypingTracker", () => {
  it("ends a state once, by stop or by expiry", () => {
    const typing = new TypingTracker(6000);
    typing.start(ann, 0);
    typing.start(bob, 1000);
    expect(typing.nextDeadline()).toBe(6000);
    expect(typing.stop(ann.id)).toBe(true);
    expect(typing.stop(ann.id)).toBe(false);
    expect(typing.expire(6999)).toEqual([]);
    expect(typing.expire(7000)).toEqual([bob]);
    expect(typing.expire(8000)).toEqual([]);
    expect(typing.nextDeadline()).toBeNull();
  });

  it("extends the deadline on every start", () => {
    const typing = new TypingTracker(6000);
    typing.start(ann, 0);
    typing.start(ann, 5000);
    expect(typing.expire(6000)).toEqual([]);
    expect(typing.expire(11_000)).toEqual([ann]);
  });

  it("is rebuilt from the deadlines the sockets carried through hibernation", () => {
    const typing = new TypingTracker(6000);
    const until = typing.start(ann, 100);
    expect(until).toBe(6100);
    const restored = new TypingTracker(6000, [{ user: ann, until }]);
    expect(restored.nextDeadline()).toBe(6100);
    expect(restored.expire(6100)).toEqual([ann]);
  });
});
