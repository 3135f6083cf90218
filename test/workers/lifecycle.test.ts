// Messages that live: edits, deletes, reactions, replies and read markers over the chat socket,
// their rules and errors, and what a reconnect with `since` / `changesSince` replays.
import { describe, expect, it } from "vitest";
import { ClientEvent, ServerEvent } from "../../src/protocol/events";
import { ErrorCode } from "../../src/protocol/errors";
import { limits } from "../../src/protocol/limits";
import { api, connect, copyToD1Now, createGroup, d1Copy, register, twoInAChat, type TestSocket } from "./helpers";

async function sent(socket: TestSocket, content: string, extra: Record<string, unknown> = {}) {
  const clientId = `${content.slice(0, 20)}-${Math.random().toString(36).slice(2, 8)}`;
  socket.sendJson(ClientEvent.SendMessage, { content, clientId, ...extra });
  await socket.until((s) => s.of(ServerEvent.MessageSent).some((a) => a.clientId === clientId), `ack of ${content}`);
  return socket.of(ServerEvent.MessageSent).find((a) => a.clientId === clientId)!.messageId;
}

const lastError = (socket: TestSocket) => socket.of(ServerEvent.Error).at(-1)!;

describe("edit and delete", () => {
  it("the sender edits; everyone, the sender included, gets message_edited with a change id; history shows the new state", async () => {
    const { ann, chat, a, b } = await twoInAChat("la", "lb");
    const id = await sent(a, "helo");
    a.sendJson(ClientEvent.EditMessage, { messageId: id, content: "hello" });
    const seen = await b.next(ServerEvent.MessageEdited);
    expect(seen).toMatchObject({ chatId: chat.id, messageId: id, content: "hello" });
    expect(seen.changeId).toBeGreaterThan(0);
    expect((await a.next(ServerEvent.MessageEdited)).changeId).toBe(seen.changeId);
    const page = await api("GET", `/api/chats/${chat.id}/messages`, { token: ann.token });
    expect(page.body.messages.at(-1)).toMatchObject({ id, content: "hello", deleted: false });
    expect(Date.parse(page.body.messages.at(-1).editedAt)).toBeGreaterThan(0);
    expect(page.body.lastChangeId).toBe(seen.changeId);
  });

  it("editing someone else's message is forbidden; an edit keeps the content rules", async () => {
    const { a, b } = await twoInAChat("lc", "ld");
    const id = await sent(a, "mine");
    b.sendJson(ClientEvent.EditMessage, { messageId: id, content: "yours now" });
    await b.next(ServerEvent.Error);
    expect(lastError(b)).toMatchObject({ code: ErrorCode.Forbidden, event: ClientEvent.EditMessage });
    a.sendJson(ClientEvent.EditMessage, { messageId: id, content: "   " });
    a.sendJson(ClientEvent.EditMessage, { messageId: id, content: "x".repeat(limits.contentMax + 1) });
    await a.next(ServerEvent.Error, 2);
    expect(a.of(ServerEvent.Error).map((e) => e.code)).toEqual([ErrorCode.BadRequest, ErrorCode.BadRequest]);
    a.sendJson(ClientEvent.EditMessage, { messageId: 999_999, content: "nothing there" });
    await a.next(ServerEvent.Error, 3);
    expect(lastError(a).code).toBe(ErrorCode.NotFound);
  });

  it("the sender or a group admin deletes; others may not; a deleted message keeps its place with no content or reactions", async () => {
    const { ann, bob, chat, a, b } = await twoInAChat("le", "lf");
    const bobs = await sent(b, "bob's words");
    const anns = await sent(a, "ann's words");
    b.sendJson(ClientEvent.AddReaction, { messageId: bobs, emoji: "👍" });
    await a.next(ServerEvent.ReactionsUpdated);
    b.sendJson(ClientEvent.DeleteMessage, { messageId: anns });
    await b.next(ServerEvent.Error);
    expect(lastError(b).code).toBe(ErrorCode.Forbidden);
    // Ann created the group: she is its admin and may delete Bob's message.
    a.sendJson(ClientEvent.DeleteMessage, { messageId: bobs });
    const gone = await b.next(ServerEvent.MessageDeleted);
    expect(gone).toMatchObject({ chatId: chat.id, messageId: bobs });
    const page = await api("GET", `/api/chats/${chat.id}/messages`, { token: bob.token });
    const row = page.body.messages.find((m: { id: number }) => m.id === bobs);
    expect(row).toMatchObject({ id: bobs, content: "", deleted: true, reactions: [] });
    expect(page.body.messages.map((m: { id: number }) => m.id)).toEqual([bobs, anns]);
    // A second delete changes nothing and says nothing.
    a.sendJson(ClientEvent.DeleteMessage, { messageId: bobs });
    a.sendJson(ClientEvent.EditMessage, { messageId: bobs, content: "revived?" });
    await a.next(ServerEvent.Error);
    expect(lastError(a).code).toBe(ErrorCode.Gone);
    expect(b.of(ServerEvent.MessageDeleted)).toHaveLength(1);
    void ann;
  });

  it("in a direct chat nobody but the sender deletes", async () => {
    const [ann, bob] = await Promise.all([register("lg"), register("lh")]);
    const direct = await api("POST", "/api/chats", { token: ann.token, body: { type: "direct", userId: bob.user.id } });
    const a = await connect(direct.body.id, ann.token);
    const b = await connect(direct.body.id, bob.token);
    const id = await sent(a, "direct words");
    b.sendJson(ClientEvent.DeleteMessage, { messageId: id });
    await b.next(ServerEvent.Error);
    expect(lastError(b).code).toBe(ErrorCode.Forbidden);
  });
});

describe("reactions", () => {
  it("adds and removes, idempotently, with counts and user ids, at most 20 distinct emoji, one emoji each", async () => {
    const { ann, bob, a, b } = await twoInAChat("li", "lj");
    const id = await sent(a, "react to me");
    b.sendJson(ClientEvent.AddReaction, { messageId: id, emoji: "👍" });
    // Bob's first: two sockets' frames are ordered by when the room gets them (one may be on a fan-out shard).
    await a.next(ServerEvent.ReactionsUpdated);
    a.sendJson(ClientEvent.AddReaction, { messageId: id, emoji: "👍" });
    a.sendJson(ClientEvent.AddReaction, { messageId: id, emoji: "👍" }); // again: no change, no event
    a.sendJson(ClientEvent.AddReaction, { messageId: id, emoji: "👨‍👩‍👧" });
    await b.next(ServerEvent.ReactionsUpdated, 3);
    expect(b.of(ServerEvent.ReactionsUpdated).at(-1)!.reactions).toEqual([
      { emoji: "👍", count: 2, userIds: [bob.user.id, ann.user.id] },
      { emoji: "👨‍👩‍👧", count: 1, userIds: [ann.user.id] },
    ]);
    b.sendJson(ClientEvent.RemoveReaction, { messageId: id, emoji: "👍" });
    await b.next(ServerEvent.ReactionsUpdated, 4);
    expect(b.of(ServerEvent.ReactionsUpdated).at(-1)!.reactions[0]).toEqual({ emoji: "👍", count: 1, userIds: [ann.user.id] });
    for (const emoji of ["a", "👍👍", "", "😀 "]) a.sendJson(ClientEvent.AddReaction, { messageId: id, emoji });
    await a.next(ServerEvent.Error, 4);
    expect(a.of(ServerEvent.Error).map((e) => e.code)).toEqual(Array(4).fill(ErrorCode.BadRequest));
    const twenty = [..."😀😃😄😁😆😅😂🤣😊😇🙂🙃😉😌😍🥰😘😗😙"];
    for (const emoji of twenty) a.sendJson(ClientEvent.AddReaction, { messageId: id, emoji });
    await b.until((s) => s.of(ServerEvent.ReactionsUpdated).at(-1)!.reactions.length === 20, "20 distinct");
    a.sendJson(ClientEvent.AddReaction, { messageId: id, emoji: "😚" });
    await a.next(ServerEvent.Error, 5);
    expect(lastError(a)).toMatchObject({ code: ErrorCode.BadRequest, event: ClientEvent.AddReaction });
  });
});

describe("replies", () => {
  it("a reply carries the original's id, sender and an excerpt of at most 100 characters, blank once deleted", async () => {
    const { ann, chat, a, b } = await twoInAChat("lk", "ll");
    const long = "ü".repeat(150);
    const original = await sent(a, long);
    const reply = await sent(b, "answer", { replyToId: original });
    const live = (await a.next(ServerEvent.ReceiveMessage)).replyTo;
    expect(live).toEqual({ id: original, sender: ann.user, excerpt: "ü".repeat(100) });
    a.sendJson(ClientEvent.DeleteMessage, { messageId: original });
    await b.next(ServerEvent.MessageDeleted);
    const page = await api("GET", `/api/chats/${chat.id}/messages`, { token: ann.token });
    expect(page.body.messages.find((m: { id: number }) => m.id === reply).replyTo).toEqual({ id: original, sender: ann.user, excerpt: "" });
    b.sendJson(ClientEvent.SendMessage, { content: "to a deleted one", clientId: "r-del", replyToId: original });
    b.sendJson(ClientEvent.SendMessage, { content: "to nothing", clientId: "r-none", replyToId: 999_999 });
    await b.next(ServerEvent.Error, 2);
    expect(b.of(ServerEvent.Error).map((e) => [e.code, e.clientId])).toEqual([
      [ErrorCode.Gone, "r-del"],
      [ErrorCode.BadRequest, "r-none"],
    ]);
  });
});

describe("read_updated", () => {
  it("a member's marker move reaches every socket of the chat", async () => {
    const { bob, chat, a, b } = await twoInAChat("lm", "ln");
    const id = await sent(a, "read me");
    b.sendJson(ClientEvent.MarkRead, { messageId: id });
    expect(await a.next(ServerEvent.ReadUpdated)).toEqual({ chatId: chat.id, user: bob.user, lastReadMessageId: id });
  });
});

describe("catching up on changes", () => {
  it("a reconnect with since and changesSince replays each changed message once, in change order, in its final state", async () => {
    const { ann, bob, chat, a, b } = await twoInAChat("lo", "lp");
    const ids = [await sent(a, "one"), await sent(a, "two"), await sent(a, "three")];
    const joined = b.of(ServerEvent.JoinedChat)[0]!;
    await b.until((s) => s.of(ServerEvent.ReceiveMessage).length === 3, "3 messages");
    b.close();
    // While Bob is away: an edit then a delete of "one", a reaction on "two", an edit of "three", one new message.
    a.sendJson(ClientEvent.EditMessage, { messageId: ids[0], content: "one, edited" });
    a.sendJson(ClientEvent.AddReaction, { messageId: ids[1], emoji: "🎉" });
    a.sendJson(ClientEvent.DeleteMessage, { messageId: ids[0] });
    a.sendJson(ClientEvent.EditMessage, { messageId: ids[2], content: "three, edited" });
    const four = await sent(a, "four");
    await a.until((s) => s.of(ServerEvent.MessageEdited).length === 2 && s.of(ServerEvent.MessageDeleted).length === 1, "changes applied");

    const back = await connect(chat.id, bob.token, `?since=${ids[2]}&changesSince=${joined.lastChangeId}`);
    const done = await back.next(ServerEvent.ReplayDone);
    const events = back.frames.flatMap((f) => (f !== "pong" && f.event !== ServerEvent.JoinedChat ? [f] : []));
    expect(events.map((f) => [f.event, (f.data as { messageId?: number; id?: number }).messageId ?? (f.data as { id: number }).id])).toEqual([
      [ServerEvent.ReceiveMessage, four],
      [ServerEvent.ReactionsUpdated, ids[1]],
      [ServerEvent.MessageDeleted, ids[0]],
      [ServerEvent.MessageEdited, ids[2]],
      [ServerEvent.ReactionsUpdated, ids[2]],
      [ServerEvent.ReplayDone, undefined],
    ]);
    expect(back.of(ServerEvent.MessageEdited)[0]!.content).toBe("three, edited");
    expect(done).toMatchObject({ lastId: four, hasMore: false, hasMoreChanges: false });
    expect(done.lastChangeId).toBe(Math.max(...a.of(ServerEvent.MessageEdited).map((e) => e.changeId), ...a.of(ServerEvent.MessageDeleted).map((e) => e.changeId)));
    // Nothing changed since: a reconnect at the new cursors replays nothing.
    const again = await connect(chat.id, bob.token, `?since=${four}&changesSince=${done.lastChangeId}`);
    await again.next(ServerEvent.ReplayDone);
    expect(again.frames.filter((f) => f !== "pong" && f.event !== ServerEvent.JoinedChat && f.event !== ServerEvent.ReplayDone)).toEqual([]);
    void ann;
  });

  it("a removed member gets none of it", async () => {
    const [ann, bob, cy] = await Promise.all([register("lq"), register("lr"), register("ls")]);
    const chat = await createGroup(ann, [bob, cy]);
    const a = await connect(chat.id, ann.token);
    const c = await connect(chat.id, cy.token);
    const id = await sent(a, "before");
    expect((await api("DELETE", `/api/chats/${chat.id}/members/${cy.user.id}`, { token: ann.token })).status).toBe(204);
    await c.until((s) => s.closed !== null, "closed");
    const framesAtRemoval = c.frames.length;
    a.sendJson(ClientEvent.EditMessage, { messageId: id, content: "after" });
    a.sendJson(ClientEvent.AddReaction, { messageId: id, emoji: "👀" });
    await a.next(ServerEvent.ReactionsUpdated);
    expect(c.frames.length).toBe(framesAtRemoval);
    const res = await api("GET", `/api/chats/${chat.id}/messages`, { token: cy.token });
    expect(res.status).toBe(403);
  });
});

describe("over HTTP, for clients without a socket", () => {
  it("edits, reacts, unreacts and deletes with the socket's rules, announced to the sockets, and pages changes", async () => {
    const { ann, bob, chat, a, b } = await twoInAChat("lt", "lu");
    const id = await sent(a, "via http");
    const base = `/api/chats/${chat.id}/messages/${id}`;
    const edited = await api("PATCH", base, { token: ann.token, body: { content: "edited via http" } });
    expect(edited.status).toBe(200);
    expect(edited.body).toMatchObject({ id, content: "edited via http", deleted: false });
    expect((await b.next(ServerEvent.MessageEdited)).content).toBe("edited via http");
    expect((await api("PATCH", base, { token: bob.token, body: { content: "not mine" } })).status).toBe(403);
    const thumbs = encodeURIComponent("👍🏽");
    expect((await api("PUT", `${base}/reactions/${thumbs}`, { token: bob.token })).status).toBe(204);
    expect((await b.next(ServerEvent.ReactionsUpdated)).reactions).toEqual([{ emoji: "👍🏽", count: 1, userIds: [bob.user.id] }]);
    expect((await api("PUT", `${base}/reactions/${encodeURIComponent("ab")}`, { token: bob.token })).status).toBe(400);
    expect((await api("DELETE", `${base}/reactions/${thumbs}`, { token: bob.token })).status).toBe(204);
    await b.next(ServerEvent.ReactionsUpdated, 2);
    expect((await api("DELETE", base, { token: bob.token })).status).toBe(403);
    expect((await api("DELETE", base, { token: ann.token })).status).toBe(204);
    await b.next(ServerEvent.MessageDeleted);
    const gone = await api("PATCH", base, { token: ann.token, body: { content: "again" } });
    expect(gone).toMatchObject({ status: 410, body: { code: ErrorCode.Gone } });
    expect((await api("PATCH", `/api/chats/${chat.id}/messages/999999`, { token: ann.token, body: { content: "x" } })).status).toBe(404);
    const reply = await api("POST", `/api/chats/${chat.id}/messages`, { token: bob.token, body: { content: "re", replyToId: id } });
    expect(reply).toMatchObject({ status: 410, body: { code: ErrorCode.Gone } });

    const all = await api("GET", `/api/chats/${chat.id}/changes?after=0`, { token: bob.token });
    expect(all.status).toBe(200);
    expect(all.body).toMatchObject({ hasMore: false, messages: [{ id, deleted: true, content: "" }] });
    expect(all.body.lastChangeId).toBe((await b.next(ServerEvent.MessageDeleted)).changeId);
    const none = await api("GET", `/api/chats/${chat.id}/changes?after=${all.body.lastChangeId}`, { token: bob.token });
    expect(none.body).toEqual({ messages: [], lastChangeId: all.body.lastChangeId, hasMore: false });
  });

  it("GET /api/chats/:chatId lists each member's read marker", async () => {
    const { ann, bob, chat, a, b } = await twoInAChat("lv", "lw");
    const id = await sent(a, "seen?");
    b.sendJson(ClientEvent.MarkRead, { messageId: id });
    await a.next(ServerEvent.ReadUpdated);
    // The chat object is read from D1's copy, about a second behind the room.
    let members: { id: number; lastReadMessageId: number | null }[] = [];
    for (let i = 0; i < 40; i++) {
      members = (await api("GET", `/api/chats/${chat.id}`, { token: ann.token })).body.members;
      if (members.find((m) => m.id === bob.user.id)?.lastReadMessageId === id) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(members.find((m) => m.id === bob.user.id)?.lastReadMessageId).toBe(id);
    expect(members.find((m) => m.id === ann.user.id)?.lastReadMessageId).toBe(id);
  });
});

describe("D1's copy follows the changes", () => {
  it("the chat list's last message shows an edit, a reaction, a reply and a delete once copied", async () => {
    const { ann, chat, a } = await twoInAChat("lx", "ly");
    const first = await sent(a, "the question");
    const reply = await sent(a, "the answer", { replyToId: first });
    a.sendJson(ClientEvent.EditMessage, { messageId: reply, content: "the answer, edited" });
    a.sendJson(ClientEvent.AddReaction, { messageId: reply, emoji: "✅" });
    await a.next(ServerEvent.ReactionsUpdated);
    expect(await copyToD1Now(chat.id)).toBe(true);
    let last = (await api("GET", `/api/chats/${chat.id}`, { token: ann.token })).body.lastMessage;
    expect(last).toMatchObject({ id: reply, content: "the answer, edited", deleted: false, reactions: [{ emoji: "✅", count: 1 }], replyTo: { id: first, excerpt: "the question" } });
    expect(last.editedAt).not.toBeNull();

    a.sendJson(ClientEvent.DeleteMessage, { messageId: first });
    a.sendJson(ClientEvent.DeleteMessage, { messageId: reply });
    await a.next(ServerEvent.MessageDeleted, 2);
    expect(await copyToD1Now(chat.id)).toBe(true);
    last = (await api("GET", `/api/chats/${chat.id}`, { token: ann.token })).body.lastMessage;
    expect(last).toMatchObject({ id: reply, content: "", deleted: true, reactions: [], replyTo: { id: first, excerpt: "" } });
    const { rows } = await d1Copy(chat.id);
    expect(rows.map((r) => [r.id, r.content])).toEqual([[first, ""], [reply, ""]]);
  });
});

describe("unread counts", () => {
  it("a deleted message is not unread in the chat list (the room counts the same way for chat_activity)", async () => {
    const { bob, chat, a } = await twoInAChat("lz", "ma");
    const ids = [await sent(a, "one"), await sent(a, "two")];
    a.sendJson(ClientEvent.DeleteMessage, { messageId: ids[0] });
    await a.next(ServerEvent.MessageDeleted);
    expect(await copyToD1Now(chat.id)).toBe(true);
    expect((await api("GET", `/api/chats/${chat.id}`, { token: bob.token })).body.unreadCount).toBe(1);
  });
});
