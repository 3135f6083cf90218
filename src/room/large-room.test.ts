import { describe, expect, it } from "vitest";
import { limits } from "../protocol/limits";
import { largeRoomMembers, TypingThrottle } from "./large-room";

describe("largeRoomMembers", () => {
  it("takes a positive integer and falls back to the default for anything else", () => {
    expect(largeRoomMembers("250")).toBe(250);
    for (const bad of [undefined, "", "0", "-3", "2.5", "many"]) expect(largeRoomMembers(bad)).toBe(limits.largeRoomMembersDefault);
  });
});

describe("TypingThrottle", () => {
  it("lets a user's typing begin at most once per interval", () => {
    const t = new TypingThrottle(3000, 5);
    expect(t.mayBegin(1, 0, 0)).toBe(true);
    expect(t.mayBegin(1, 0, 2999)).toBe(false);
    expect(t.mayBegin(2, 0, 2999)).toBe(true);
    expect(t.mayBegin(1, 0, 3000)).toBe(true);
    expect(t.mayBegin(1, 0, 3001)).toBe(false);
  });

  it("names no new typist while the cap is reached, and forgets nobody's interval because of it", () => {
    const t = new TypingThrottle(3000, 2);
    expect(t.mayBegin(1, 0, 0)).toBe(true);
    expect(t.mayBegin(2, 1, 0)).toBe(true);
    expect(t.mayBegin(3, 2, 10)).toBe(false);
    // A refusal by the cap does not start the user's interval: once someone stopped, they may begin.
    expect(t.mayBegin(3, 1, 20)).toBe(true);
  });
});
