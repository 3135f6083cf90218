import { describe, expect, it } from "vitest";
import type { User } from "../protocol/models";
import { Presence } from "./presence";

function presence() {
  const announced: string[] = [];
  /** Pending timers by id: when each is due on the test's clock. */
  const timers = new Map<number, { fn: () => void; due: number }>();
  let next = 0;
  let now = 0;
  const p = new Presence({ announce: (event, user) => void announced.push(`${event} ${user.username}`) }, 2000, {
    set: (fn, ms) => (timers.set(++next, { fn, due: now + ms }), next),
    clear: (timer) => void timers.delete(timer as number),
    now: () => now,
  });
  /** Moves the clock on by `ms`, running every timer due by then, in order. */
  const advance = (ms: number) => {
    const until = now + ms;
    for (;;) {
      const due = [...timers].filter(([, t]) => t.due <= until).sort((a, b) => a[1].due - b[1].due)[0];
      if (!due) break;
      timers.delete(due[0]);
      now = due[1].due;
      due[1].fn();
    }
    now = until;
  };
  /** Ends every grace still running. */
  const graceEnds = () => advance(2000);
  return { p, announced, timers, advance, graceEnds };
}

const ann: User = { id: 1, username: "ann" };
const bob: User = { id: 2, username: "bob" };

describe("Presence", () => {
  it("announces a first socket at once, and a last close only when the grace ends", () => {
    const { p, announced, graceEnds } = presence();
    p.arrived(ann);
    expect(announced).toEqual(["online ann"]);
    p.left(ann);
    expect(announced).toEqual(["online ann"]);
    expect(p.stillAnnounced()).toEqual([ann]);
    graceEnds();
    expect(announced).toEqual(["online ann", "offline ann"]);
    expect(p.stillAnnounced()).toEqual([]);
  });

  it("a user back within the grace (a reload) is announced neither gone nor back", () => {
    const { p, announced, timers, graceEnds } = presence();
    p.arrived(ann);
    p.left(ann);
    p.arrived(ann);
    expect(timers.size).toBe(0);
    graceEnds();
    expect(announced).toEqual(["online ann"]);
    // Gone for good later: announced then.
    p.left(ann);
    graceEnds();
    expect(announced).toEqual(["online ann", "offline ann"]);
  });

  it("keeps each user's grace apart, and stop() ends them all unannounced", () => {
    const { p, announced, graceEnds } = presence();
    p.arrived(ann);
    p.arrived(bob);
    p.left(ann);
    p.left(bob);
    p.arrived(bob);
    expect(p.stillAnnounced()).toEqual([ann]);
    p.stop();
    graceEnds();
    expect(announced).toEqual(["online ann", "online bob"]);
    expect(p.stillAnnounced()).toEqual([]);
  });

  it("a removed member is offline at once, with sockets open or within their grace, and never twice", () => {
    const { p, announced, timers, graceEnds } = presence();
    p.arrived(ann);
    p.removed(ann, true);
    expect(announced).toEqual(["online ann", "offline ann"]);
    expect(p.stillAnnounced()).toEqual([]);

    p.arrived(bob);
    p.left(bob);
    p.removed(bob, false);
    expect(announced).toEqual(["online ann", "offline ann", "online bob", "offline bob"]);
    expect(timers.size).toBe(0);
    graceEnds();
    expect(announced).toHaveLength(4);

    // Removed with no socket and no grace: the chat already knows they are gone.
    p.removed(ann, false);
    expect(announced).toHaveLength(4);
  });

  it("runs one timer for every grace, and announces each user when their own grace ends", () => {
    const { p, announced, timers, advance } = presence();
    p.arrived(ann);
    p.arrived(bob);
    p.left(ann);
    advance(500);
    p.left(bob);
    expect(timers.size).toBe(1);
    advance(1500);
    expect(announced).toEqual(["online ann", "online bob", "offline ann"]);
    expect(p.stillAnnounced()).toEqual([bob]);
    // Bob's grace is the one timer left, due 500 ms later.
    expect(timers.size).toBe(1);
    advance(499);
    expect(announced).toHaveLength(3);
    advance(1);
    expect(announced).toEqual(["online ann", "online bob", "offline ann", "offline bob"]);
    expect(timers.size).toBe(0);
  });

  it("the last user back clears the timer; a user who leaves again waits a whole grace from then", () => {
    const { p, announced, timers, advance } = presence();
    p.arrived(ann);
    p.left(ann);
    advance(1500);
    p.arrived(ann);
    expect(timers.size).toBe(0);
    p.left(ann);
    advance(1999);
    expect(announced).toEqual(["online ann"]);
    advance(1);
    expect(announced).toEqual(["online ann", "offline ann"]);
  });
});
