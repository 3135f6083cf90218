// What a push shows, and the service worker's check of a payload held to the contract's zod schema.
import { describe, expect, it } from "vitest";
import { pushPayload, type PushPayload } from "../protocol/push";
import { notificationTag } from "./attention";
import { isPushPayload, notificationBody, notifiedChatId, pushNotification } from "./push-payload";

const payload: PushPayload = { type: "message", chatId: 7, chatName: "Climbers", isGroup: true, sender: { id: 2, username: "bob" }, count: 1, messageId: 40, sentAt: "2026-12-04T10:00:00.000Z", preview: "on the rock at 6?" };

describe("isPushPayload", () => {
  // Each case: a payload, and whether the contract takes it.
  const cases: [string, unknown][] = [
    ["a group's", payload],
    ["a direct chat's (no name), without a preview", { ...payload, chatName: null, isGroup: false, preview: undefined }],
    ["one with a field a newer server adds", { ...payload, priority: "high" }],
    ["another type", { ...payload, type: "call" }],
    ["a chat id of 0", { ...payload, chatId: 0 }],
    ["a fractional count", { ...payload, count: 1.5 }],
    ["a count of 0", { ...payload, count: 0 }],
    ["a chat id as a string", { ...payload, chatId: "7" }],
    ["no sender", { ...payload, sender: undefined }],
    ["a sender without a name", { ...payload, sender: { id: 2 } }],
    ["a number as the name", { ...payload, chatName: 5 }],
    ["isGroup missing", { ...payload, isGroup: undefined }],
    ["a preview that is not text", { ...payload, preview: 5 }],
    ["no sentAt", { ...payload, sentAt: undefined }],
    ["an array", [payload]],
    ["null", null],
    ["text", "message"],
  ];

  it.each(cases)("agrees with the contract's schema: %s", (_, value) => {
    expect(isPushPayload(value)).toBe(pushPayload.safeParse(value).success);
  });

  it("takes and refuses some of them (the table is not all one answer)", () => {
    expect(cases.map(([, v]) => isPushPayload(v))).toEqual([true, true, true, ...Array(cases.length - 3).fill(false)]);
  });
});

describe("notificationBody", () => {
  it("shows the text (a group's with who wrote), else who wrote; several messages say how many", () => {
    expect(notificationBody({ isGroup: false, sender: "bob", count: 1, preview: "hi" })).toBe("hi");
    expect(notificationBody({ isGroup: true, sender: "bob", count: 1, preview: "hi" })).toBe("bob: hi");
    expect(notificationBody({ isGroup: false, sender: "bob", count: 1 })).toBe("New message");
    expect(notificationBody({ isGroup: true, sender: "bob", count: 1, preview: "" })).toBe("New message from bob");
    expect(notificationBody({ isGroup: true, sender: "bob", count: 3, preview: "hi" })).toBe("3 new messages");
    expect(notificationBody({ isGroup: false, sender: "bob", count: 2 })).toBe("2 new messages");
  });
});

describe("pushNotification", () => {
  it("one per chat (the in-tab tag), titled with the chat, alerting again, carrying the chat for the click", () => {
    expect(pushNotification(payload)).toEqual({
      title: "Climbers",
      options: { body: "bob: on the rock at 6?", tag: notificationTag(7), renotify: true, timestamp: Date.parse(payload.sentAt), data: { chatId: 7 } },
    });
  });

  it("a direct chat is titled with the sender; a count says how many", () => {
    const { title, options } = pushNotification({ ...payload, chatName: null, isGroup: false, count: 3 });
    expect(title).toBe("bob");
    expect(options.body).toBe("3 new messages");
  });

  it("an unreadable sentAt leaves the time to the browser", () => {
    expect(pushNotification({ ...payload, sentAt: "soon" }).options).not.toHaveProperty("timestamp");
  });
});

describe("notifiedChatId", () => {
  it("reads the chat from a notification's data, or null", () => {
    expect(notifiedChatId(pushNotification(payload).options.data)).toBe(7);
    expect(notifiedChatId(null)).toBeNull();
    expect(notifiedChatId({ chatId: "7" })).toBeNull();
    expect(notifiedChatId({ chatId: -1 })).toBeNull();
  });
});
