// A message's one line where only text fits (notifications, the live region, the chat list).
import { describe, expect, it } from "vitest";
import { messageSummary } from "./attachments";

const file = (name: string) => ({ id: `1-${name}`, name, size: 3, contentType: "image/png", url: `/api/attachments/1-${name}` });

describe("messageSummary", () => {
  it("is the text when there is some, the files when there is none, and says a deleted message was deleted", () => {
    expect(messageSummary({ content: "hello", attachments: [file("a.png")], deleted: false })).toBe("hello");
    expect(messageSummary({ content: "", attachments: [file("a.png"), file("b.png")], deleted: false })).toBe("📎 a.png, b.png");
    expect(messageSummary({ content: "  ", attachments: [file("a.png")], deleted: false })).toBe("📎 a.png");
    expect(messageSummary({ content: "", attachments: [], deleted: true })).toBe("message deleted");
  });
});
