// ChatConnection and messages that live: typed change senders, replies, the change cursor across
// reconnects, and paging `GET …/changes` after a long absence.
import { beforeEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../protocol/errors";
import { ClientEvent, ServerEvent } from "../protocol/events";
import type { Message } from "../protocol/models";
import { ChatConnection, ConnectionEvent } from "./chat-connection";
import { FakeSocket, fakeEnvironment, fakeFetch, message, page, settle } from "./test-support";

let ids = 0;
function setup(options: { since?: number; changesSince?: number } = {}) {
  const { env, advance, pendingTimers } = fakeEnvironment();
  const http = fakeFetch();
  const conn = new ChatConnection({ baseUrl: "https://chat.test", token: "tok", chatId: 7, env, ...options, fetch: http.fetch, newClientId: () => `c${++ids}`, pingIntervalMs: 1e9 });
  // One log of everything the app sees, in order.
  const log: string[] = [];
  conn.on(ServerEvent.ReceiveMessage, (m) => log.push(`m${m.id}`));
  conn.on(ServerEvent.MessageEdited, (e) => log.push(`edited${e.messageId}:${e.content}`));
  conn.on(ServerEvent.MessageDeleted, (e) => log.push(`deleted${e.messageId}`));
  conn.on(ServerEvent.ReactionsUpdated, (e) => log.push(`reactions${e.messageId}:${e.reactions.map((r) => r.emoji).join("")}`));
  conn.on(ConnectionEvent.MessageChanged, ({ message }) => log.push(`changed${message.id}:${message.deleted ? "deleted" : message.content}`));
  conn.on(ConnectionEvent.Synced, ({ lastId }) => log.push(`synced@${lastId}`));
  return { conn, advance, pendingTimers: () => pendingTimers().filter((ms) => ms < 3_600_000), requests: http.requests, log };
}

const edited = (messageId: number, content: string, changeId: number) => ({ chatId: 7, messageId, content, editedAt: new Date(0).toISOString(), changeId });
const deleted = (messageId: number, changeId: number) => ({ chatId: 7, messageId, deletedAt: new Date(0).toISOString(), changeId });
const reactions = (messageId: number, emoji: string[], changeId: number) => ({ chatId: 7, messageId, reactions: emoji.map((e) => ({ emoji: e, count: 1, userIds: [2] })), changeId });
const changed = (id: number, state: Partial<Message>) => ({ ...message(id), ...state });

beforeEach(() => {
  FakeSocket.all = [];
  ids = 0;
});

describe("ChatConnection: sending changes and replies", () => {
  it("sends typed edit, delete and reaction frames for its chat", () => {
    const { conn } = setup();
    conn.connect();
    const socket = FakeSocket.all[0]!;
    socket.accept();
    expect(conn.editMessage(3, "fixed")).toBe(true);
    expect(conn.deleteMessage(4)).toBe(true);
    expect(conn.addReaction(5, "👍🏽")).toBe(true);
    expect(conn.removeReaction(5, "👍🏽")).toBe(true);
    expect(socket.frames()).toEqual([
      { event: ClientEvent.EditMessage, data: { chatId: 7, messageId: 3, content: "fixed" } },
      { event: ClientEvent.DeleteMessage, data: { chatId: 7, messageId: 4 } },
      { event: ClientEvent.AddReaction, data: { chatId: 7, messageId: 5, emoji: "👍🏽" } },
      { event: ClientEvent.RemoveReaction, data: { chatId: 7, messageId: 5, emoji: "👍🏽" } },
    ]);
  });

  it("queues changes asked for while disconnected and sends them, in order, after the unacknowledged messages on the next join; one that went out is not sent again", () => {
    const { conn, advance } = setup({ since: 9 });
    expect(conn.addReaction(8, "🎉")).toBe(false);
    conn.sendMessage("offline words");
    expect(conn.editMessage(9, "offline edit")).toBe(false);
    conn.connect();
    const first = FakeSocket.all[0]!;
    expect(first.frames()).toEqual([]);
    first.accept();
    expect(first.frames().map((f) => f.event)).toEqual([ClientEvent.SendMessage, ClientEvent.AddReaction, ClientEvent.EditMessage]);
    expect(first.frames()[2]!.data).toEqual({ chatId: 7, messageId: 9, content: "offline edit" });
    first.drop();
    advance(375);
    const second = FakeSocket.all[1]!;
    second.accept();
    // The unacknowledged message goes again (the server stores its clientId once); the changes do not.
    expect(second.frames().map((f) => f.event)).toEqual([ClientEvent.SendMessage]);
  });

  it("forgets queued changes when it stops for good", () => {
    const { conn } = setup();
    conn.deleteMessage(2);
    conn.close();
    conn.connect();
    FakeSocket.all[0]!.accept();
    expect(FakeSocket.all[0]!.frames()).toEqual([]);
  });

  it("sends replyToId with a reply and with its resend; the clientId-only form still works", async () => {
    const { conn, advance } = setup();
    conn.connect();
    const first = FakeSocket.all[0]!;
    first.accept();
    const reply = conn.sendMessage("agreed", { replyToId: 41 });
    const plain = conn.sendMessage("plain", "my-id");
    const both = conn.sendMessage("both", { clientId: "mine-2", replyToId: 42 });
    const files = conn.sendMessage("", { clientId: "files", attachmentIds: ["7-a", "7-b"] });
    expect(first.frames().map((f) => f.data)).toEqual([
      { chatId: 7, content: "agreed", clientId: "c1", replyToId: 41 },
      { chatId: 7, content: "plain", clientId: "my-id" },
      { chatId: 7, content: "both", clientId: "mine-2", replyToId: 42 },
      { chatId: 7, content: "", clientId: "files", attachmentIds: ["7-a", "7-b"] },
    ]);
    // Everything a resend carries, the uploads too: a caller rebuilding its outbox loses nothing.
    expect(conn.unacknowledged).toEqual([
      { clientId: "c1", content: "agreed", replyToId: 41 },
      { clientId: "my-id", content: "plain" },
      { clientId: "mine-2", content: "both", replyToId: 42 },
      { clientId: "files", content: "", attachmentIds: ["7-a", "7-b"] },
    ]);
    first.drop();
    advance(375);
    const second = FakeSocket.all[1]!;
    second.accept();
    expect(second.frames().map((f) => f.data["replyToId"])).toEqual([41, undefined, 42, undefined]);
    expect(second.frames().at(-1)!.data["attachmentIds"]).toEqual(["7-a", "7-b"]);
    second.push(ServerEvent.MessageSent, { messageId: 50, chatId: 7, timestamp: "t", clientId: "c1" });
    second.push(ServerEvent.MessageSent, { messageId: 51, chatId: 7, timestamp: "t", clientId: "my-id" });
    second.push(ServerEvent.Error, { error: "the message replied to was deleted", code: ErrorCode.Gone, event: ClientEvent.SendMessage, clientId: "mine-2" });
    await expect(reply).resolves.toMatchObject({ messageId: 50 });
    await expect(plain).resolves.toMatchObject({ messageId: 51 });
    await expect(both).rejects.toMatchObject({ payload: { code: ErrorCode.Gone } });
    second.push(ServerEvent.MessageSent, { messageId: 52, chatId: 7, timestamp: "t", clientId: "files" });
    await expect(files).resolves.toMatchObject({ messageId: 52 });
  });
});

describe("ChatConnection: change events and the change cursor", () => {
  it("emits change and read events, and reconnects with since and changesSince at the newest change it passed on", () => {
    const { conn, advance, log } = setup();
    const reads: number[] = [];
    conn.on(ServerEvent.ReadUpdated, (e) => reads.push(e.lastReadMessageId));
    conn.connect();
    const first = FakeSocket.all[0]!;
    // No since: no changesSince either (a client without messages has no changes to catch up on).
    expect(first.url).toBe("wss://chat.test/api/chats/7/ws?token=tok&receipts=batched&frames=batched");
    first.accept([], 12);
    expect(conn.lastChangeId).toBe(12);
    first.push(ServerEvent.ReceiveMessage, message(5));
    first.push(ServerEvent.MessageEdited, edited(5, "five", 13));
    first.push(ServerEvent.ReactionsUpdated, reactions(5, ["👍"], 14));
    first.push(ServerEvent.MessageDeleted, deleted(4, 15));
    first.push(ServerEvent.ReadUpdated, { chatId: 7, user: { id: 2, username: "bob" }, lastReadMessageId: 5 });
    expect(log).toEqual(["synced@undefined", "m5", "edited5:five", "reactions5:👍", "deleted4"]);
    expect(reads).toEqual([5]);
    // A window's receipts in one frame: passed on as it is, and one read_updated per marker.
    const batches: number[] = [];
    conn.on(ServerEvent.ReadsUpdated, (e) => batches.push(e.reads.length));
    const cid = { id: 3, username: "cid" };
    first.push(ServerEvent.ReadsUpdated, { chatId: 7, reads: [{ user: { id: 2, username: "bob" }, lastReadMessageId: 5 }, { user: cid, lastReadMessageId: 4 }] });
    expect(batches).toEqual([2]);
    expect(reads).toEqual([5, 5, 4]);
    expect(conn.lastChangeId).toBe(15);
    first.drop();
    advance(375);
    expect(FakeSocket.all[1]!.url).toBe("wss://chat.test/api/chats/7/ws?token=tok&since=5&changesSince=15&receipts=batched&frames=batched");
  });

  it("with a cursor, takes the replay's word rather than joined_chat's: a drop before replay_done resumes from the old cursor", () => {
    const { conn, advance, log } = setup({ since: 20, changesSince: 30 });
    conn.connect();
    const first = FakeSocket.all[0]!;
    expect(first.url).toContain("since=20&changesSince=30");
    // The chat is at change 40, but the replay of changes 31-40 has not arrived.
    first.accept([], 40);
    expect(conn.lastChangeId).toBe(30);
    first.push(ServerEvent.MessageEdited, edited(3, "three", 33));
    first.drop();
    advance(375);
    const second = FakeSocket.all[1]!;
    expect(second.url).toContain("since=20&changesSince=33");
    second.accept([], 41);
    second.push(ServerEvent.MessageDeleted, deleted(3, 41));
    second.push(ServerEvent.ReplayDone, { chatId: 7, lastId: 20, hasMore: false, lastChangeId: 41, hasMoreChanges: false });
    expect(log).toEqual(["edited3:three", "deleted3", "synced@20"]);
    expect(conn.lastChangeId).toBe(41);
  });

  it("asks for no changes while it has no messages, whatever its cursor", () => {
    const { conn } = setup({ changesSince: 4 });
    conn.connect();
    expect(FakeSocket.all[0]!.url).toBe("wss://chat.test/api/chats/7/ws?token=tok&receipts=batched&frames=batched");
    FakeSocket.all[0]!.accept([], 9);
    // It had a cursor: joined_chat does not move it.
    expect(conn.lastChangeId).toBe(4);
  });

  it("moves the cursor to replay_done's lastChangeId when the replay had nothing to send", () => {
    const { conn, advance } = setup({ since: 8, changesSince: 2 });
    conn.connect();
    FakeSocket.all[0]!.accept([], 6);
    // Changes 3-6 were to messages newer than 8, which the replay sends in their current state.
    FakeSocket.all[0]!.push(ServerEvent.ReplayDone, { chatId: 7, lastId: 8, hasMore: false, lastChangeId: 6, hasMoreChanges: false });
    expect(conn.lastChangeId).toBe(6);
    FakeSocket.all[0]!.drop();
    advance(375);
    expect(FakeSocket.all[1]!.url).toContain("changesSince=6");
  });
});

describe("ChatConnection: paging changes after a long absence", () => {
  it("pages GET …/changes until hasMore is false, emits message_changed for delivered messages, releases live frames after, then synced", async () => {
    const { conn, requests, log } = setup({ since: 100, changesSince: 10 });
    conn.connect();
    const socket = FakeSocket.all[0]!;
    socket.accept([], 2000);
    // The replay (kept short here) stopped at its limit.
    socket.push(ServerEvent.MessageEdited, edited(1, "one", 11));
    socket.push(ServerEvent.ReplayDone, { chatId: 7, lastId: 100, hasMore: false, lastChangeId: 11, hasMoreChanges: true });
    expect(conn.isSynced).toBe(false);
    expect(requests.map((r) => [r.method, r.url])).toEqual([["GET", "https://chat.test/api/chats/7/changes?after=11"]]);
    expect(requests[0]!.headers["Authorization"]).toBe("Bearer tok");

    // Live frames meanwhile: a new message and a change to a message the pages also carry.
    socket.push(ServerEvent.ReceiveMessage, message(101));
    socket.push(ServerEvent.MessageEdited, edited(2, "two, live", 2001));
    socket.push(ServerEvent.ReactionsUpdated, reactions(101, ["🎉"], 2002));
    requests[0]!.respond(200, { messages: [changed(2, { content: "two, paged" }), changed(3, { deleted: true, content: "" })], lastChangeId: 1500, hasMore: true });
    await settle();
    expect(conn.lastChangeId).toBe(1500);
    expect(requests[1]!.url).toBe("https://chat.test/api/chats/7/changes?after=1500");
    // The last page also lists 101, which this connection has not delivered yet: left to the live frames.
    requests[1]!.respond(200, { messages: [changed(4, { content: "four" }), changed(101, { content: "new" })], lastChangeId: 2000, hasMore: false });
    await settle();

    expect(log).toEqual([
      "edited1:one",
      "changed2:two, paged",
      "changed3:deleted",
      "changed4:four",
      // Held while paging: the page read before this edit does not overwrite it.
      "m101",
      "edited2:two, live",
      "reactions101:🎉",
      "synced@101",
    ]);
    expect(conn.lastChangeId).toBe(2002);
    expect(conn.isSynced).toBe(true);
    socket.push(ServerEvent.MessageDeleted, deleted(2, 2003));
    expect(log.at(-1)).toBe("deleted2");
  });

  it("pages the messages first, then the changes", async () => {
    const { conn, requests, log } = setup({ since: 5, changesSince: 1 });
    conn.connect();
    const socket = FakeSocket.all[0]!;
    socket.accept([], 3000);
    socket.push(ServerEvent.ReplayDone, { chatId: 7, lastId: 5, hasMore: true, lastChangeId: 1001, hasMoreChanges: true });
    expect(requests.map((r) => r.url)).toEqual(["https://chat.test/api/chats/7/messages?after=5&limit=100"]);
    requests[0]!.respond(200, page([6, 7], false, 3000));
    await settle();
    expect(requests[1]!.url).toBe("https://chat.test/api/chats/7/changes?after=1001");
    requests[1]!.respond(200, { messages: [changed(7, { content: "seven, changed" })], lastChangeId: 3000, hasMore: false });
    await settle();
    expect(log).toEqual(["m6", "m7", "changed7:seven, changed", "synced@7"]);
    expect(conn.lastChangeId).toBe(3000);
  });

  it("retries a failed page with backoff; a drop drops the late page and the held changes, and the next socket resumes at the last page passed on", async () => {
    const { conn, requests, advance, pendingTimers, log } = setup({ since: 50, changesSince: 0 });
    conn.connect();
    const first = FakeSocket.all[0]!;
    first.accept([], 5000);
    first.push(ServerEvent.ReplayDone, { chatId: 7, lastId: 50, hasMore: false, lastChangeId: 1000, hasMoreChanges: true });
    requests[0]!.fail();
    await settle();
    expect(pendingTimers()).toEqual([375]);
    advance(375);
    expect(requests[1]!.url).toContain("changes?after=1000");
    requests[1]!.respond(200, { messages: [changed(9, { content: "nine" })], lastChangeId: 1100, hasMore: true });
    await settle();
    first.push(ServerEvent.MessageEdited, edited(9, "nine, live", 5001)); // held
    first.drop();
    requests[2]!.respond(200, { messages: [changed(10, { content: "ten" })], lastChangeId: 1200, hasMore: false });
    await settle();
    expect(log).toEqual(["changed9:nine"]);
    expect(conn.lastChangeId).toBe(1100);
    advance(375);
    expect(FakeSocket.all[1]!.url).toContain("since=50&changesSince=1100");
  });

  it("stops for good when a change page answers 403 (removed meanwhile)", async () => {
    const { conn, requests } = setup({ since: 3, changesSince: 0 });
    conn.connect();
    FakeSocket.all[0]!.accept();
    FakeSocket.all[0]!.push(ServerEvent.ReplayDone, { chatId: 7, lastId: 3, hasMore: false, lastChangeId: 1000, hasMoreChanges: true });
    requests[0]!.respond(403, { error: "not a member of this chat", code: "forbidden" });
    await settle();
    expect(conn.state).toBe("closed");
    expect(conn.error).toMatchObject({ code: ErrorCode.Forbidden, status: 403 });
    expect(conn.isSynced).toBe(false);
  });
});
