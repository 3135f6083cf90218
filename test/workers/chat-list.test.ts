/**
 * The chat list is the caller's own at once (issue 25): every action of theirs shows in their next
 * `GET /api/chats` and `GET /api/chats/:chatId`, read straight after it answered (no polling), and
 * the list needs no D1 once the user's inbox knows their chats.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ClientEvent, ServerEvent } from "../../src/protocol/events";
import type { Chat } from "../../src/protocol/models";
import type { InboxRoom } from "../../src/inbox/inbox-room";
import { api, connect, createGroup, register, type TestUser } from "./helpers";
import { inboxStub } from "./inbox-hooks";

afterEach(() => vi.restoreAllMocks());

const list = async (user: TestUser): Promise<Chat[]> => {
  const res = await api("GET", "/api/chats", { token: user.token });
  expect(res.status).toBe(200);
  return res.body.chats;
};
const one = async (user: TestUser, chatId: number): Promise<Chat> => {
  const res = await api("GET", `/api/chats/${chatId}`, { token: user.token });
  expect(res.status).toBe(200);
  return res.body;
};

describe("read-your-writes on the chat list", () => {
  it("shows the caller's own send, read, join, leave and new chat in the very next read", async () => {
    const [ann, bob, cid] = await Promise.all([register("ryw"), register("ryw"), register("ryw")]);
    // A new chat is in its creator's list at once, first.
    const older = await createGroup(ann, [bob], "older");
    const chat = await createGroup(ann, [bob], "newer");
    expect((await list(ann)).map((c) => c.id)).toEqual([chat.id, older.id]);

    for (let round = 0; round < 5; round++) {
      // An HTTP send: the last message, the order, and no unread for the sender.
      const sent = await api("POST", `/api/chats/${older.id}/messages`, { token: bob.token, body: { content: `http ${round}` } });
      expect(sent.status).toBe(201);
      const [first] = await list(bob);
      expect(first).toMatchObject({ id: older.id, lastMessage: { id: sent.body.id }, unreadCount: 0, lastReadMessageId: sent.body.id });
      expect(await one(bob, older.id)).toMatchObject({ lastMessage: { id: sent.body.id }, unreadCount: 0 });
      // The other member's list and chat object count it.
      expect((await list(ann)).find((c) => c.id === older.id)).toMatchObject({ lastMessage: { id: sent.body.id }, unreadCount: round + 1 });
    }

    // A socket send, then a read: both at once in the caller's list.
    const a = await connect(chat.id, ann.token);
    a.sendJson(ClientEvent.SendMessage, { content: "socket", clientId: "s1" });
    const ack = await a.next(ServerEvent.MessageSent);
    expect((await list(ann))[0]).toMatchObject({ id: chat.id, lastMessage: { id: ack.messageId }, unreadCount: 0 });
    const last = (await list(ann)).find((c) => c.id === older.id)!.lastMessage!.id;
    expect((await api("POST", `/api/chats/${older.id}/read`, { token: ann.token, body: { messageId: last } })).status).toBe(204);
    expect((await list(ann)).find((c) => c.id === older.id)).toMatchObject({ lastReadMessageId: last, unreadCount: 0 });
    expect(await one(ann, older.id)).toMatchObject({ lastReadMessageId: last, unreadCount: 0 });
    a.sendJson(ClientEvent.MarkRead, { chatId: chat.id, messageId: ack.messageId });

    // Joining (an admin adds Cid) and leaving: in Cid's next read, and in the leaver's.
    expect((await api("POST", `/api/chats/${chat.id}/members`, { token: ann.token, body: { userId: cid.user.id } })).status).toBe(201);
    expect((await list(cid)).map((c) => c.id)).toEqual([chat.id]);
    expect((await one(ann, chat.id)).members.map((m) => m.id)).toContain(cid.user.id);
    expect((await api("DELETE", `/api/chats/${chat.id}/members/${cid.user.id}`, { token: cid.token })).status).toBe(204);
    expect(await list(cid)).toEqual([]);
    expect((await list(ann)).find((c) => c.id === chat.id)!.members.map((m) => m.id)).not.toContain(cid.user.id);
    a.close();
  });

  it("a membership call that arrives after a later decision changes nothing", async () => {
    const [ann, bob] = await Promise.all([register("late"), register("late")]);
    const chat = await createGroup(ann, [bob]);
    expect((await api("DELETE", `/api/chats/${chat.id}/members/${bob.user.id}`, { token: ann.token })).status).toBe(204);
    expect(await list(bob)).toEqual([]);
    // The add at creation (version 0), delivered late: Bob's leave (a later version) stands.
    await inboxStub(bob.user.id).membership(chat.id, true, 0);
    expect(await list(bob)).toEqual([]);
  });

  it("a chat the room says the user is not in leaves the list, whatever the inbox was told", async () => {
    const [ann, bob, eve] = await Promise.all([register("stale"), register("stale"), register("stale")]);
    const chat = await createGroup(ann, [bob]);
    await inboxStub(eve.user.id).membership(chat.id, true, 99);
    expect(await list(eve)).toEqual([]);
    expect((await list(bob)).map((c) => c.id)).toEqual([chat.id]);
  });
});

describe("an inbox from before it kept the user's chats", () => {
  it("builds the list from D1 once, on first use; after that the list needs no D1", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const [ann, bob] = await Promise.all([register("old"), register("old")]);
    const chats = [await createGroup(ann, [bob], "one"), await createGroup(ann, [bob], "two")];
    // As an inbox was before this change: nothing recorded.
    await runInDurableObject(inboxStub(bob.user.id), (_inbox: InboxRoom, state) => {
      for (const [key] of [...state.storage.kv.list({ prefix: "chat" })]) state.storage.kv.delete(key);
    });
    const res = await api("GET", "/api/chats", { token: bob.token });
    expect(res.status).toBe(200);
    expect(res.body.chats.map((c: Chat) => c.id)).toEqual([chats[1]!.id, chats[0]!.id]);

    // D1 gone for the inbox: the list still comes, from what it recorded and from the rooms.
    await runInDurableObject(inboxStub(bob.user.id), (inbox: InboxRoom) => {
      (inbox as unknown as { d1: D1Database }).d1 = { prepare: () => { throw new Error("D1 is not to be read"); }, batch: () => Promise.reject(new Error("D1 is not to be read")) } as unknown as D1Database;
    });
    expect((await list(bob)).map((c) => c.id)).toEqual([chats[1]!.id, chats[0]!.id]);
    expect(env.DB).toBeDefined();
  });
});
