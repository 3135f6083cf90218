// A chat list answer that left the server before an inbox hint arrived must not undo that hint.
import { describe, expect, it } from "vitest";
import { message } from "../client/test-support";
import type { Chat } from "../protocol/models";
import { replayHints } from "./list-hints";

const chat = (id: number, over: Partial<Chat> = {}): Chat => ({
  id,
  type: "direct",
  name: null,
  createdAt: "2026-12-05T00:00:00.000Z",
  members: [],
  lastMessage: null,
  lastReadMessageId: null,
  unreadCount: 0,
  slowModeSeconds: 0,
  retentionSeconds: null,
  muted: false,
  ...over,
});

describe("replayHints", () => {
  it("keeps a chat added while the list was on its way, and drops one removed meanwhile", () => {
    const chats = replayHints([chat(1), chat(2)], [{ kind: "added", chat: chat(3) }, { kind: "removed", chatId: 1 }]);
    expect(chats.map((c) => c.id).sort()).toEqual([2, 3]);
  });

  it("an added chat the answer already has stays as the answer says (the room's newer state)", () => {
    const inAnswer = chat(3, { lastMessage: message(9, "hi", 3), unreadCount: 1 });
    expect(replayHints([inAnswer], [{ kind: "added", chat: chat(3) }])).toEqual([inAnswer]);
  });

  it("removed then added again ends added; added then removed ends removed", () => {
    expect(replayHints([chat(1)], [{ kind: "removed", chatId: 1 }, { kind: "added", chat: chat(1) }]).map((c) => c.id)).toEqual([1]);
    expect(replayHints([], [{ kind: "added", chat: chat(1) }, { kind: "removed", chatId: 1 }])).toEqual([]);
  });

  it("activity and reads apply only where they are newer than the answer", () => {
    const answer = [chat(1, { lastMessage: message(5, "five", 1), unreadCount: 2, lastReadMessageId: 3 })];
    const older = replayHints(answer, [
      { kind: "activity", chatId: 1, lastMessage: message(4, "four", 1), unreadCount: 1 },
      { kind: "read", chatId: 1, lastReadMessageId: 2, unreadCount: 3 },
    ]);
    expect(older).toEqual(answer);
    const newer = replayHints(answer, [
      { kind: "activity", chatId: 1, lastMessage: message(6, "six", 1), unreadCount: 3 },
      { kind: "read", chatId: 1, lastReadMessageId: 6, unreadCount: 0 },
    ]);
    expect(newer[0]).toMatchObject({ lastMessage: { id: 6 }, lastReadMessageId: 6, unreadCount: 0 });
    const edited = replayHints(answer, [{ kind: "activity", chatId: 1, lastMessage: message(5, "five, edited", 1), unreadCount: 2 }]);
    expect(edited[0]!.lastMessage!.content).toBe("five, edited");
  });

  it("the user's own mute applies; a hint for a chat the answer lacks adds nothing", () => {
    expect(replayHints([chat(1)], [{ kind: "muted", chatId: 1, muted: true }])[0]!.muted).toBe(true);
    expect(replayHints([], [{ kind: "activity", chatId: 2, lastMessage: message(1, "x", 2), unreadCount: 1 }, { kind: "muted", chatId: 2, muted: true }])).toEqual([]);
  });
});
