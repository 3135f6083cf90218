import { describe, expect, it } from "vitest";
import { COPY_BATCH, COPY_MAX_DELAY_MS, COPY_QUIET_MS, copyCheck, earliest, nextRetry, retryDelay } from "./copy-schedule";

describe("the copy schedule", () => {
  it("copies once the chat has been quiet for a second", () => {
    expect(copyCheck({ since: 0, lastChange: 0, messages: 1 }, COPY_QUIET_MS)).toEqual({ due: true });
    expect(copyCheck({ since: 0, lastChange: 400, messages: 3 }, 1400)).toEqual({ due: true });
    expect(copyCheck({ since: 0, lastChange: 400, messages: 3 }, 1000)).toEqual({ due: false, checkAt: 2000 });
  });

  it("looks again at growing intervals while the chat keeps going, and copies after a burst about as long as it lasted", () => {
    // Twenty messages a second for five seconds, from t = 0: checked at 1, 2, 4 and 8 s, copied at 8.
    const busyUntil = 5000;
    const lastChange = (t: number) => Math.min(t, busyUntil);
    const checks: number[] = [];
    let t = COPY_QUIET_MS;
    for (;;) {
      const check = copyCheck({ since: 0, lastChange: lastChange(t), messages: t / 50 }, t);
      checks.push(t);
      if (check.due) break;
      t = check.checkAt;
    }
    expect(checks).toEqual([1000, 2000, 4000, 8000]);
  });

  it("copies a second after the first change, pause or not, while the room does not know who has an inbox open", () => {
    expect(copyCheck({ since: 0, lastChange: 950, messages: 19, learnInboxes: true }, COPY_QUIET_MS)).toEqual({ due: true });
    expect(copyCheck({ since: 0, lastChange: 950, messages: 19 }, COPY_QUIET_MS)).toEqual({ due: false, checkAt: 2000 });
  });

  it("copies a chat that never pauses at least every COPY_MAX_DELAY_MS, and a full batch at once", () => {
    let t = COPY_QUIET_MS;
    let checks = 0;
    for (;;) {
      checks++;
      const check = copyCheck({ since: 0, lastChange: t, messages: 10 }, t);
      if (check.due) break;
      t = check.checkAt;
    }
    expect(t).toBe(COPY_MAX_DELAY_MS);
    expect(checks).toBeLessThanOrEqual(7);
    expect(copyCheck({ since: 0, lastChange: 10, messages: COPY_BATCH }, 10)).toEqual({ due: true });
  });

  it("copies what a full batch left behind at once, however busy the chat", () => {
    expect(copyCheck({ since: 0, lastChange: 900, messages: 10 }, 950)).toEqual({ due: false, checkAt: 1900 });
    expect(copyCheck({ since: 0, lastChange: 900, messages: 10, backlog: true }, 950)).toEqual({ due: true });
  });

  it("backs off exponentially from a second up to a minute", () => {
    expect([1, 2, 3, 4].map(retryDelay)).toEqual([1000, 2000, 4000, 8000]);
    expect(retryDelay(30)).toBe(60_000);
  });

  it("counts a failure and backs off from its time: one second after the first, doubling, at most a minute", () => {
    expect(nextRetry(0, 10_000)).toEqual({ failures: 1, at: 11_000 });
    expect(nextRetry(1, 10_000)).toEqual({ failures: 2, at: 12_000 });
    expect(nextRetry(3, 10_000)).toEqual({ failures: 4, at: 18_000 });
    expect(nextRetry(40, 10_000)).toEqual({ failures: 41, at: 70_000 });
  });

  it("picks the earliest deadline that is set", () => {
    expect(earliest(null, null)).toBeNull();
    expect(earliest(5, null, 3)).toBe(3);
    expect(earliest(null, 7)).toBe(7);
  });
});
