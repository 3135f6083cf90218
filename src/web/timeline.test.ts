// The timeline's day separators and grouping.
import { describe, expect, it } from "vitest";
import { dayLabel, GROUP_GAP_MS, joinTo } from "./timeline";

const at = (iso: string) => new Date(iso);
const now = at("2026-11-28T12:00:00");

describe("timeline", () => {
  it("separates days and groups consecutive messages from one sender", () => {
    const entries = [
      { id: 1, senderId: 1, at: at("2026-11-26T09:00:00") },
      { id: 2, senderId: 1, at: at("2026-11-26T09:01:00") },
      { id: 3, senderId: 2, at: at("2026-11-26T09:02:00") },
      { id: 4, senderId: 2, at: at("2026-11-27T09:02:00") },
      { id: 5, senderId: 2, at: at("2026-11-28T08:00:00") },
      { id: 6, senderId: 2, at: at("2026-11-28T08:04:00") },
    ];
    // As the chat view draws them: each message joined to the one above it, a separator where a day starts.
    const drawn = entries.flatMap((entry, i) => {
      const { newDay, grouped } = joinTo(entries[i - 1] ?? null, entry);
      return [...(newDay ? [`day ${dayLabel(entry.at, now, "en-GB")}`] : []), `${entry.id}${grouped ? " grouped" : ""}`];
    });
    expect(drawn).toEqual([
      "day Thursday, 26 November 2026",
      "1",
      "2 grouped",
      "3",
      "day Yesterday",
      "4",
      "day Today",
      "5",
      "6 grouped",
    ]);
  });

  it("a pause of five minutes starts a new group", () => {
    const first = { senderId: 1, at: at("2026-11-28T08:00:00") };
    expect(joinTo(first, { senderId: 1, at: new Date(first.at.getTime() + GROUP_GAP_MS - 1) })).toEqual({ newDay: false, grouped: true });
    expect(joinTo(first, { senderId: 1, at: new Date(first.at.getTime() + GROUP_GAP_MS) })).toEqual({ newDay: false, grouped: false });
    expect(joinTo(null, first)).toEqual({ newDay: true, grouped: false });
  });

  it("labels today and yesterday by name, across a month's end", () => {
    const dec1 = at("2026-12-01T00:30:00");
    expect(dayLabel(at("2026-12-01T00:00:00"), dec1)).toBe("Today");
    expect(dayLabel(at("2026-11-30T23:59:00"), dec1)).toBe("Yesterday");
    expect(dayLabel(at("2026-11-29T23:59:00"), dec1, "en-GB")).toMatch(/^Sunday,? 29 November 2026$/);
  });
});
