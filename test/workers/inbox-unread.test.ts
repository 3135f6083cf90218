/** Inbox: unread counts and read markers across several chats and users, and a hung inbox. */
import { beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/protocol/errors";
import { INBOX_DELIVERY_TIMEOUT_MS } from "../../src/inbox/notify";
import { InboxEvent } from "../../src/protocol/events";
import type { Chat, Message } from "../../src/protocol/models";
import { api, connectInbox, createGroup, register, type TestUser } from "./helpers";
import { breakInbox, restoreInboxes } from "./inbox-hooks";

let ann: TestUser, bob: TestUser, cid: TestUser;
beforeAll(async () => {
  [ann, bob, cid] = await Promise.all([register("ann"), register("bob"), register("cid")]);
});
async function post(chat: Chat, user: TestUser, content: string): Promise<Message> {
  const res = await api("POST", `/api/chats/${chat.id}/messages`, { token: user.token, body: { content } });
  expect(res.status).toBe(201);
  return res.body;
}
const read = (chat: Chat, user: TestUser, messageId: number) =>
  api("POST", `/api/chats/${chat.id}/read`, { token: user.token, body: { messageId } });
async function listed(user: TestUser, chat: Chat): Promise<Chat> {
  const chats = (await api("GET", "/api/chats", { token: user.token })).body.chats as Chat[];
  return chats.find((c) => c.id === chat.id)!;
}

describe("unread counts across chats and users", () => {
  it("gives every member their own count in every chat, live and in GET /api/chats", async () => {
    const team = await createGroup(ann, [bob, cid], "Team");
    const pair = await createGroup(bob, [cid], "Pair");
    const inboxes = await Promise.all([ann, bob, cid].map((u) => connectInbox(u.token)));
    const [annInbox, bobInbox, cidInbox] = inboxes as [typeof inboxes[0], typeof inboxes[0], typeof inboxes[0]];

    await post(team, ann, "t1");
    const t2 = await post(team, bob, "t2");
    const t3 = await post(team, ann, "t3");
    const p1 = await post(pair, bob, "p1");

    const settled = (inbox: typeof annInbox, chat: Chat, lastId: number) =>
      inbox.until((s) => s.of(InboxEvent.ChatActivity).some((e) => e.chatId === chat.id && e.lastMessage.id === lastId), `activity ${chat.id}`);
    const latest = (inbox: typeof annInbox, chat: Chat) => inbox.of(InboxEvent.ChatActivity).filter((e) => e.chatId === chat.id).at(-1)!;
    await Promise.all([settled(annInbox, team, t3.id), settled(bobInbox, team, t3.id), settled(cidInbox, team, t3.id)]);
    await Promise.all([settled(bobInbox, pair, p1.id), settled(cidInbox, pair, p1.id)]);

    // Ann sent t3 last: nothing unread. Bob sent t2, so only t3 is unread for him. Cid read nothing.
    expect(latest(annInbox, team)).toMatchObject({ unreadCount: 0, lastMessage: t3 });
    expect(latest(bobInbox, team).unreadCount).toBe(1);
    expect(latest(cidInbox, team).unreadCount).toBe(3);
    expect(latest(bobInbox, pair).unreadCount).toBe(0);
    expect(latest(cidInbox, pair)).toEqual({ chatId: pair.id, lastMessage: p1, unreadCount: 1 });
    // Ann is not in the pair chat: she hears nothing of it.
    expect(annInbox.of(InboxEvent.ChatActivity).some((e) => e.chatId === pair.id)).toBe(false);

    // The truth agrees, and a sender's own message moved their marker.
    expect(await listed(cid, team)).toMatchObject({ unreadCount: 3, lastReadMessageId: null });
    expect(await listed(bob, team)).toMatchObject({ unreadCount: 1 });
    expect(await listed(ann, team)).toMatchObject({ unreadCount: 0, lastReadMessageId: t3.id });
    expect(await listed(cid, pair)).toMatchObject({ unreadCount: 1 });

    // Cid reads the team chat: chat_read to him; the pair chat is untouched.
    expect((await read(team, cid, t3.id)).status).toBe(204);
    expect(await cidInbox.next(InboxEvent.ChatRead)).toEqual({ chatId: team.id, lastReadMessageId: t3.id, unreadCount: 0 });
    expect(await listed(cid, pair)).toMatchObject({ unreadCount: 1 });
    // Bob's only marker moves in the team chat were his own message; Cid's reading is not his.
    expect(bobInbox.of(InboxEvent.ChatRead).filter((e) => e.chatId === team.id).map((e) => e.lastReadMessageId)).toEqual([t2.id]);
    for (const inbox of inboxes) inbox.close();
  });
});

describe("read markers", () => {
  it("only move forward, and chat_read never reports a marker going back", async () => {
    const chat = await createGroup(ann, [bob], "Monotonic");
    const other = await createGroup(ann, [bob], "Other");
    const m1 = await post(chat, ann, "one");
    const m2 = await post(chat, ann, "two");
    const m3 = await post(chat, ann, "three");
    const elsewhere = await post(other, ann, "elsewhere");
    const inbox = await connectInbox(bob.token);

    expect((await read(chat, bob, m2.id)).status).toBe(204);
    expect(await inbox.next(InboxEvent.ChatRead)).toEqual({ chatId: chat.id, lastReadMessageId: m2.id, unreadCount: 1 });
    // Backwards: accepted, nothing moves.
    expect((await read(chat, bob, m1.id)).status).toBe(204);
    expect(await listed(bob, chat)).toMatchObject({ lastReadMessageId: m2.id, unreadCount: 1 });
    // Not a message of this chat, or not a message at all: 400, nothing moves.
    const foreign = await read(chat, bob, elsewhere.id);
    expect(foreign.status).toBe(400);
    expect(foreign.body.code).toBe(ErrorCode.BadRequest);
    expect((await read(chat, bob, m3.id + 1_000_000)).status).toBe(400);
    expect(await listed(bob, chat)).toMatchObject({ lastReadMessageId: m2.id, unreadCount: 1 });

    expect((await read(chat, bob, m3.id)).status).toBe(204);
    await inbox.until((s) => s.of(InboxEvent.ChatRead).some((e) => e.lastReadMessageId === m3.id), "marker at m3");
    const markers = inbox.of(InboxEvent.ChatRead).map((e) => e.lastReadMessageId);
    expect(markers).toEqual([...markers].sort((a, b) => a - b));
    expect(inbox.of(InboxEvent.ChatRead).at(-1)).toEqual({ chatId: chat.id, lastReadMessageId: m3.id, unreadCount: 0 });
    inbox.close();
  });
});

describe("a sender's own messages", () => {
  it("move their marker, and every device of the sender gets chat_read; the others do not", async () => {
    const chat = await createGroup(ann, [bob], "Own");
    const [phone, laptop, bobInbox] = await Promise.all([connectInbox(ann.token), connectInbox(ann.token), connectInbox(bob.token)]);
    const incoming = await post(chat, bob, "from bob");
    await phone.until((s) => s.of(InboxEvent.ChatActivity).some((e) => e.lastMessage.id === incoming.id), "bob's message");
    const readsOf = (inbox: typeof phone) => inbox.of(InboxEvent.ChatRead).filter((e) => e.chatId === chat.id);
    // Bob's message moved Bob's marker, not Ann's.
    expect(readsOf(phone)).toHaveLength(0);
    const mine = await post(chat, ann, "from ann");
    for (const device of [phone, laptop]) {
      await device.until((s) => readsOf(s).length > 0, "chat_read");
      expect(readsOf(device)).toEqual([{ chatId: chat.id, lastReadMessageId: mine.id, unreadCount: 0 }]);
    }
    await bobInbox.until((s) => s.of(InboxEvent.ChatActivity).some((e) => e.lastMessage.id === mine.id), "ann's message");
    expect(readsOf(bobInbox).map((e) => e.lastReadMessageId)).toEqual([incoming.id]);
    expect(bobInbox.of(InboxEvent.ChatActivity).at(-1)!.unreadCount).toBe(1);
    expect(await listed(ann, chat)).toMatchObject({ lastReadMessageId: mine.id, unreadCount: 0 });
    for (const inbox of [phone, laptop, bobInbox]) inbox.close();
  });
});

describe("a hung inbox", () => {
  it("does not stall the other members' activity", async () => {
    const [dan, eve, fay] = await Promise.all([register("dan"), register("eve"), register("fay")]);
    const chat = await createGroup(dan, [eve, fay], "Hung");
    const fayInbox = await connectInbox(fay.token);
    const eveInbox = await connectInbox(eve.token);
    await breakInbox(eve.user.id, "hang");
    try {
      const started = Date.now();
      await post(chat, dan, "first");
      await fayInbox.until((s) => s.of(InboxEvent.ChatActivity).length === 1, "first activity");
      // The flush waiting on Eve gives up after its timeout; the next window still reaches Fay.
      const second = await post(chat, dan, "second");
      await fayInbox.until((s) => s.of(InboxEvent.ChatActivity).some((e) => e.lastMessage.id === second.id), "second activity", 8000);
      expect(fayInbox.of(InboxEvent.ChatActivity).at(-1)).toEqual({ chatId: chat.id, lastMessage: second, unreadCount: 2 });
      // Eve's inbox really hung: nothing reached her, and the second window waited for the timeout.
      expect(eveInbox.of(InboxEvent.ChatActivity)).toHaveLength(0);
      expect(Date.now() - started).toBeGreaterThanOrEqual(INBOX_DELIVERY_TIMEOUT_MS);
    } finally {
      await restoreInboxes([eve.user.id]);
    }
    fayInbox.close();
    eveInbox.close();
  }, 15_000);
});
