import { describe, expect, it } from "vitest";
import { BUSY_INBOX_INTERVAL_MS, INBOX_WINDOW_MS, inboxWindow, LARGE_INBOX_WINDOW_MS, LEARNING_INBOX_WINDOW_MS } from "./activity";

describe("inboxWindow", () => {
  const quiet = { large: false, learnt: true, toldOfMessagesAt: -Infinity };

  it("tells inboxes 250 ms after a message in a chat that was quiet for a second", () => {
    expect(inboxWindow(quiet, 10_000)).toBe(INBOX_WINDOW_MS);
    expect(inboxWindow({ ...quiet, toldOfMessagesAt: 10_000 - BUSY_INBOX_INTERVAL_MS }, 10_000)).toBe(INBOX_WINDOW_MS);
  });

  it("tells them at most once a second while the chat keeps going", () => {
    const told = { ...quiet, toldOfMessagesAt: 10_000 };
    expect(inboxWindow(told, 10_000)).toBe(BUSY_INBOX_INTERVAL_MS);
    expect(inboxWindow(told, 10_300)).toBe(BUSY_INBOX_INTERVAL_MS - 300);
    expect(inboxWindow(told, 10_900)).toBe(INBOX_WINDOW_MS);
  });

  it("waits for the room to learn who listens, and paces a large chat", () => {
    expect(inboxWindow({ ...quiet, learnt: false }, 10_000)).toBe(LEARNING_INBOX_WINDOW_MS);
    expect(inboxWindow({ ...quiet, large: true, toldOfMessagesAt: 10_000 }, 10_100)).toBe(LARGE_INBOX_WINDOW_MS);
  });
});
