import { describe, expect, it } from "vitest";
import { Occupancy } from "./occupancy";

/** A room with sockets by user id, whose announcements and windows the test records and runs. */
function room(open: [ws: string, userId: number][]) {
  const sockets = open.map(([name, userId]) => ({ name, userId, readyState: WebSocket.OPEN }) as unknown as WebSocket & { userId: number });
  const announced: number[] = [];
  const windows: { fn: () => void; ms: number }[] = [];
  const occupancy = new Occupancy(
    { sockets: () => sockets, userOf: (ws) => (ws as WebSocket & { userId: number }).userId, announce: (n) => void announced.push(n) },
    2000,
    (fn, ms) => windows.push({ fn, ms }),
  );
  const socket = (userId: number) => ({ userId, readyState: WebSocket.OPEN }) as unknown as WebSocket;
  return { occupancy, sockets, announced, windows, socket, endWindow: () => windows.shift()!.fn() };
}

describe("Occupancy", () => {
  it("after a wake-up whose first event is a close, announces the count without the socket that closed", () => {
    const r = room([["a", 1], ["b", 2]]);
    const closing = r.sockets[1]! as unknown as { readyState: number };
    closing.readyState = WebSocket.CLOSING;
    r.occupancy.closed(r.sockets[1]!, 2);
    r.endWindow();
    expect(r.announced).toEqual([1]);
  });

  it("counts users, not sockets, from the room's sockets after a wake-up", () => {
    const r = room([["a1", 1], ["a2", 1], ["b", 2]]);
    expect(r.occupancy.count()).toBe(2);
  });

  it("announces once per window in which sockets opened or closed, with the count at the window's end", () => {
    const r = room([["a", 1]]);
    const b = r.socket(2), c = r.socket(3), b2 = r.socket(2);
    r.occupancy.opened(b, 2);
    r.occupancy.opened(c, 3);
    r.occupancy.opened(b2, 2);
    expect(r.windows.map((w) => w.ms)).toEqual([2000]);
    expect(r.announced).toEqual([]);
    r.endWindow();
    expect(r.announced).toEqual([3]);
    // A second device closing changes nobody's presence: nothing is announced.
    r.occupancy.closed(b2, 2);
    r.endWindow();
    expect(r.announced).toEqual([3]);
    r.occupancy.closed(b, 2);
    r.occupancy.closed(b, 2);
    r.endWindow();
    expect(r.announced).toEqual([3, 2]);
    // A close reported twice opens a window that finds nothing new.
    r.occupancy.closed(b, 2);
    r.endWindow();
    expect(r.announced).toEqual([3, 2]);
    expect(r.windows).toEqual([]);
  });

  it("announces after a window in which someone connected even when the count came back (the newcomer's count may differ)", () => {
    const r = room([["a", 1]]);
    r.occupancy.announceNow();
    const b = r.socket(2);
    r.occupancy.opened(b, 2);
    r.occupancy.closed(b, 2);
    r.endWindow();
    expect(r.announced).toEqual([1, 1]);
  });
});
