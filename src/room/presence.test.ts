import { describe, expect, it } from "vitest";
import type { User } from "../protocol/models";
import { Presence } from "./presence";

function presence() {
  const announced: string[] = [];
  const timers = new Map<number, () => void>();
  let next = 0;
  const p = new Presence({ announce: (event, user) => void announced.push(`${event} ${user.username}`) }, 2000, {
    set: (fn) => (timers.set(++next, fn), next),
    clear: (timer) => void timers.delete(timer as number),
  });
  /** Ends every grace still running. */
  const graceEnds = () => {
    const due = [...timers.values()];
    timers.clear();
    for (const fn of due) fn();
  };
  return { p, announced, timers, graceEnds };
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
});
