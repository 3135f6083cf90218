import { describe, expect, it } from "vitest";
import { COPY_DELAY_MS, earliest, retryDelay } from "./copy-schedule";

describe("the copy schedule", () => {
  it("backs off exponentially from the copy delay up to a minute", () => {
    expect([1, 2, 3, 4].map(retryDelay)).toEqual([COPY_DELAY_MS, 2 * COPY_DELAY_MS, 4 * COPY_DELAY_MS, 8 * COPY_DELAY_MS]);
    expect(retryDelay(30)).toBe(60_000);
  });

  it("picks the earliest deadline that is set", () => {
    expect(earliest(null, null)).toBeNull();
    expect(earliest(5, null, 3)).toBe(3);
    expect(earliest(null, 7)).toBe(7);
  });
});
