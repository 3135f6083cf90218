import { describe, expect, it } from "vitest";
import type { RoomMembers } from "./log/members";
import { UnwrittenMarkers } from "./unwritten-markers";

/** A member list in memory that counts its storage reads. */
function fakeMembers(stored: Record<number, number | null>) {
  const counts = { rowReads: 0, writes: 0 };
  let version = 0;
  const members = {
    changes: 0,
    nextMarkerVersion: () => ++version,
    row(userId: number) {
      counts.rowReads++;
      return userId in stored ? { userId, lastRead: stored[userId] } : undefined;
    },
    markRead(userId: number, messageId: number) {
      counts.writes++;
      stored[userId] = Math.max(stored[userId] ?? 0, messageId);
      return true;
    },
  } as unknown as RoomMembers;
  return { members, counts, stored };
}

const heldWindow = () => {
  const windows: (() => void)[] = [];
  return { windows, schedule: (fn: () => void) => windows.push(fn) };
};

describe("UnwrittenMarkers", () => {
  it("a member reading along reads storage once, and every read moves only forward", () => {
    const { members, counts } = fakeMembers({ 7: 3 });
    const held = heldWindow();
    const markers = new UnwrittenMarkers(members, held.schedule);
    expect(markers.read(7, 2)).toBe(false); // behind the stored marker
    expect(markers.read(7, 3)).toBe(false);
    expect(markers.read(7, 4)).toBe(true);
    for (const id of [5, 6, 7, 8]) expect(markers.read(7, id)).toBe(true);
    expect(markers.read(7, 8)).toBe(false);
    expect(markers.read(7, 5)).toBe(false);
    expect(markers.markerOf({ userId: 7, lastRead: 3 })).toBe(8);
    expect(held.windows).toHaveLength(1);

    held.windows.shift()!();
    expect(counts.writes).toBe(1);
    // After the write, the marker written is the one known: no read, and still forward only.
    expect(markers.read(7, 8)).toBe(false);
    expect(markers.read(7, 9)).toBe(true);
    expect(counts.rowReads).toBe(1);
  });

  it("a sender's own marker was never compared with storage: a read past it still checks the stored one", () => {
    const { members, counts } = fakeMembers({ 7: 10 });
    const markers = new UnwrittenMarkers(members, heldWindow().schedule);
    markers.sent(7, 5);
    expect(counts.rowReads).toBe(0);
    expect(markers.read(7, 8)).toBe(false); // stored 10 is further on
    expect(markers.read(7, 11)).toBe(true);
    markers.sent(7, 12);
    expect(markers.read(7, 11)).toBe(false);
    expect(markers.read(7, 13)).toBe(true);
    expect(counts.rowReads).toBe(1);
  });

  it("a change to the member list (a marker taken from D1) is read again", () => {
    const { members, counts, stored } = fakeMembers({ 7: 3 });
    const markers = new UnwrittenMarkers(members, heldWindow().schedule);
    expect(markers.read(7, 4)).toBe(true);
    // D1 was ahead: the room took its marker, which counts as a change of the member list.
    stored[7] = 20;
    members.changes++;
    expect(markers.read(7, 15)).toBe(false);
    expect(markers.read(7, 21)).toBe(true);
    expect(counts.rowReads).toBe(2);
  });
});
