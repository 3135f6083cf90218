import { describe, expect, it } from "vitest";
import type { Message } from "../protocol/models";
import { pushLimits, pushPayload } from "../protocol/push";
import { encodePayload, messagePayload, previewOf, truncate, withoutPreview } from "./payload";

const message = (content: string, attachments: Message["attachments"] = []): Message => ({
  id: 42,
  chatId: 7,
  sender: { id: 3, username: "ann" },
  content,
  timestamp: "2026-11-30T12:00:00.000Z",
  editedAt: null,
  deleted: false,
  reactions: [],
  replyTo: null,
  attachments,
});

describe("push payload", () => {
  it("carries the chat, the newest message's sender, time and text, and the count", () => {
    const payload = messagePayload({ id: 7, type: "group", name: "Team" }, message("hello\n  there"), 3);
    expect(payload).toEqual({ type: "message", chatId: 7, chatName: "Team", isGroup: true, sender: { id: 3, username: "ann" }, count: 3, messageId: 42, sentAt: "2026-11-30T12:00:00.000Z", preview: "hello there" });
    expect(pushPayload.parse(payload)).toEqual(payload);
  });

  it("names no chat for a direct chat, and drops the preview for a user who turned previews off", () => {
    const payload = messagePayload({ id: 7, type: "direct", name: null }, message("hi"), 1);
    expect(payload).toMatchObject({ chatName: null, isGroup: false, preview: "hi" });
    expect(withoutPreview(payload)).not.toHaveProperty("preview");
    expect(pushPayload.parse(withoutPreview(payload))).toEqual(withoutPreview(payload));
  });

  it("previews a message of files only by their names", () => {
    const files = [{ id: "7-aaaaaaaaaaaaaaaaaaaaaa", name: "beach.jpg", size: 1, contentType: "image/jpeg", url: "/x" }];
    expect(previewOf(message("", files))).toBe("📎 beach.jpg");
    expect(previewOf(message("  ", []))).toBeUndefined();
  });

  it("cuts a preview at 140 UTF-16 units between code points, with an ellipsis", () => {
    expect(truncate("a".repeat(140), 140)).toBe("a".repeat(140));
    expect(truncate("a".repeat(141), 140)).toBe(`${"a".repeat(139)}…`);
    const emoji = truncate("😀".repeat(100), 140);
    expect(emoji.length).toBeLessThanOrEqual(140);
    expect(emoji).toBe(`${"😀".repeat(69)}…`);
    expect(emoji.isWellFormed()).toBe(true);
  });

  it("stays under 4 KB for the longest name, username and preview there can be", () => {
    const payload = messagePayload({ id: Number.MAX_SAFE_INTEGER, type: "group", name: "𝔸".repeat(50) }, { ...message("𝔸".repeat(2000)), id: Number.MAX_SAFE_INTEGER, sender: { id: Number.MAX_SAFE_INTEGER, username: "u".repeat(32) } }, 100_000);
    expect(encodePayload(payload).length).toBeLessThan(pushLimits.payloadMaxBytes / 4);
    expect(() => encodePayload({ ...payload, chatName: "x".repeat(5000) })).toThrow(/over 4096/);
  });
});
