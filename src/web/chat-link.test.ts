// A chat's link, the service worker's message to a tab, and which tab a notification's click goes to.
import { describe, expect, it } from "vitest";
import { chatLink, isOpenChatMessage, linkedChatId, openChatMessage, pickTab } from "./chat-link";

describe("chat links", () => {
  it("round-trips a chat id through its link's fragment", () => {
    expect(chatLink(12)).toBe("/#chat=12");
    expect(linkedChatId(new URL(chatLink(12), "https://chat.test").hash)).toBe(12);
  });

  it("names no chat for anything else", () => {
    for (const hash of ["", "#", "#chat=", "#chat=0", "#chat=012", "#chat=-3", "#chat=1.5", "#chat=12&x", "#chat=99999999999999999", "#room=3"]) expect(linkedChatId(hash), hash).toBeNull();
  });
});

describe("the open-chat message", () => {
  it("is recognised, and nothing else is", () => {
    expect(isOpenChatMessage(openChatMessage(4))).toBe(true);
    expect(isOpenChatMessage({ ...openChatMessage(4), chatId: 0 })).toBe(false);
    expect(isOpenChatMessage({ ...openChatMessage(4), chatId: "4" })).toBe(false);
    expect(isOpenChatMessage({ type: "other", chatId: 4 })).toBe(false);
    expect(isOpenChatMessage(null)).toBe(false);
  });
});

describe("pickTab", () => {
  const tab = (url: string, focused = false, visibilityState = "hidden") => ({ url: `https://chat.test${url}`, focused, visibilityState });

  it("prefers the app's tab at that chat, then the focused one, then a visible one, then any", () => {
    const atChat = tab("/#chat=7");
    const focused = tab("/#chat=3", true, "visible");
    const visible = tab("/", false, "visible");
    const other = tab("/#chat=9");
    expect(pickTab([other, visible, focused, atChat], 7)).toBe(atChat);
    expect(pickTab([other, visible, focused], 7)).toBe(focused);
    expect(pickTab([other, visible], 7)).toBe(visible);
    expect(pickTab([other], 7)).toBe(other);
    expect(pickTab([other, focused], null)).toBe(focused);
  });

  it("only the app's page counts: an attachment open in a tab is not the app; no tab: undefined", () => {
    expect(pickTab([tab("/api/attachments/7-abc", true, "visible")], 7)).toBeUndefined();
    expect(pickTab([], 7)).toBeUndefined();
  });
});
