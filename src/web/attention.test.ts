// The page title's unread count and when a message deserves a notification.
import { describe, expect, it } from "vitest";
import { notificationTag, shouldNotify, titleFor } from "./attention";

describe("titleFor", () => {
  it("shows the unread total only while the tab is hidden", () => {
    expect(titleFor([2, 0, 1], true)).toBe("(3) Edge chat");
    expect(titleFor([2, 0, 1], false)).toBe("Edge chat");
    expect(titleFor([0, 0], true)).toBe("Edge chat");
    expect(titleFor([], true)).toBe("Edge chat");
    expect(titleFor([1000], true)).toBe("(999+) Edge chat");
  });
});

describe("shouldNotify", () => {
  const arrival = { chatId: 5, messageId: 10, senderId: 2, deleted: false };
  const context = { me: 1, openChatId: 7, hidden: false, enabled: true, muted: false, lastNotified: undefined };

  it("notifies for another chat, or for the open one while the tab is hidden", () => {
    expect(shouldNotify(arrival, context)).toBe(true);
    expect(shouldNotify(arrival, { ...context, openChatId: 5 })).toBe(false);
    expect(shouldNotify(arrival, { ...context, openChatId: 5, hidden: true })).toBe(true);
  });

  it("never for one's own message, a deleted one, one already notified, a muted chat, or when not opted in", () => {
    expect(shouldNotify(arrival, { ...context, muted: true })).toBe(false);
    expect(shouldNotify(arrival, { ...context, muted: true, hidden: true })).toBe(false);
    expect(shouldNotify({ ...arrival, senderId: 1 }, context)).toBe(false);
    expect(shouldNotify({ ...arrival, deleted: true }, context)).toBe(false);
    expect(shouldNotify(arrival, { ...context, lastNotified: 10 })).toBe(false);
    expect(shouldNotify(arrival, { ...context, lastNotified: 9 })).toBe(true);
    expect(shouldNotify(arrival, { ...context, enabled: false })).toBe(false);
  });

  it("one tag per chat", () => {
    expect(notificationTag(5)).toBe(notificationTag(5));
    expect(notificationTag(5)).not.toBe(notificationTag(6));
  });
});
