/** Inbox: unread counts and read markers across several chats and users, and a hung inbox. */
import { beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/protocol/errors";
import { INBOX_DELIVERY_TIMEOUT_MS } from "../../src/inbox/notify";
import { InboxEvent } from "../../src/protocol/events";
import type { Chat, Message } from "../../src/protocol/models";
import { api, connectInbox, copyToD1Now, createGroup, register, type TestUser } from "./helpers";
import { breakInbox, deliveriesTo, restoreInboxes } from "./inbox-hooks";

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
/**
 * The chat as `GET /api/chats` lists it. That list reads D1's copy of the rooms, which may lag a
 * room by up to the copy delay (the documented contract), so callers that just changed a chat run
 * its copy first with `copyToD1Now`.
 */
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

    // The truth agrees (once D1 has the rooms' copy), and a sender's own message moved their marker.
    await copyToD1Now(team.id);
    await copyToD1Now(pair.id);
    expect(await listed(cid, team)).toMatchObject({ unreadCount: 3, lastReadMessageId: null });
    expect(await listed(bob, team)).toMatchObject({ unreadCount: 1 });
    expect(await listed(ann, team)).toMatchObject({ unreadCount: 0, lastReadMessageId: t3.id });
    expect(await listed(cid, pair)).toMatchObject({ unreadCount: 1 });

    // Cid reads the team chat: chat_read to him; the pair chat is untouched.
    expect((await read(team, cid, t3.id)).status).toBe(204);
    expect(await cidInbox.next(InboxEvent.ChatRead)).toEqual({ chatId: team.id, lastReadMessageId: t3.id, unreadCount: 0 });
    await copyToD1Now(team.id);
    expect(await listed(cid, team)).toMatchObject({ unreadCount: 0, lastReadMessageId: t3.id });
    expect(await listed(cid, pair)).toMatchObject({ unreadCount: 1 });
    // Bob's only marker moves in the team chat were his own message; Cid's reading is not his. A
    // later message reaches Bob's inbox through the same room after Cid's read, so anything the read
    // had sent him would have arrived before it.
    const t4 = await post(team, ann, "t4");
    await settled(bobInbox, team, t4.id);
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
    // Ids are per chat: the other chat's fourth message has an id this chat does not have.
    for (const content of ["a", "b", "c"]) await post(other, ann, content);
    const elsewhere = await post(other, ann, "elsewhere");
    expect(elsewhere.id).toBeGreaterThan(m3.id);
    const inbox = await connectInbox(bob.token);

    expect((await read(chat, bob, m2.id)).status).toBe(204);
    expect(await inbox.next(InboxEvent.ChatRead)).toEqual({ chatId: chat.id, lastReadMessageId: m2.id, unreadCount: 1 });
    // Backwards: accepted, nothing moves (the copy would carry a moved marker to D1).
    expect((await read(chat, bob, m1.id)).status).toBe(204);
    await copyToD1Now(chat.id);
    expect(await listed(bob, chat)).toMatchObject({ lastReadMessageId: m2.id, unreadCount: 1 });
    // Not a message of this chat, or not a message at all: 400, nothing moves.
    const foreign = await read(chat, bob, elsewhere.id);
    expect(foreign.status).toBe(400);
    expect(foreign.body.code).toBe(ErrorCode.BadRequest);
    expect((await read(chat, bob, m3.id + 1_000_000)).status).toBe(400);
    await copyToD1Now(chat.id);
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
    // Ids are per chat: every wait below names the chat as well as the message.
    const activityFor = (inbox: typeof phone, message: Message) =>
      inbox.until((s) => s.of(InboxEvent.ChatActivity).some((e) => e.chatId === chat.id && e.lastMessage.id === message.id), `activity for ${message.content}`);
    const readsOf = (inbox: typeof phone) => inbox.of(InboxEvent.ChatRead).filter((e) => e.chatId === chat.id);
    const incoming = await post(chat, bob, "from bob");
    // The room learns whose inbox is open with its copy to D1 (about a second after a first message,
    // by design); run that copy now so the inboxes hear of this message before Ann replies.
    await copyToD1Now(chat.id);
    await activityFor(phone, incoming);
    await activityFor(bobInbox, incoming);
    // Bob's message moved Bob's marker (chat_read to him, after its activity), not Ann's.
    await bobInbox.until((s) => readsOf(s).length > 0, "bob's chat_read");
    expect(readsOf(bobInbox)).toEqual([{ chatId: chat.id, lastReadMessageId: incoming.id, unreadCount: 0 }]);
    const mine = await post(chat, ann, "from ann");
    for (const device of [phone, laptop]) {
      await device.until((s) => readsOf(s).length > 0, "chat_read");
      // Exactly one, for her own message: none came with Bob's message (it would have arrived first).
      expect(readsOf(device)).toEqual([{ chatId: chat.id, lastReadMessageId: mine.id, unreadCount: 0 }]);
    }
    await activityFor(bobInbox, mine);
    expect(bobInbox.of(InboxEvent.ChatActivity).filter((e) => e.chatId === chat.id).at(-1)).toEqual({ chatId: chat.id, lastMessage: mine, unreadCount: 1 });
    // Ann's message did not move Bob's marker. A chat_read for it would travel in the same call as
    // its activity, right behind it: a later message through the same room makes sure it would be here.
    const later = await post(chat, ann, "later");
    await activityFor(bobInbox, later);
    expect(readsOf(bobInbox).map((e) => e.lastReadMessageId)).toEqual([incoming.id]);
    await copyToD1Now(chat.id);
    expect(await listed(ann, chat)).toMatchObject({ lastReadMessageId: later.id, unreadCount: 0 });
    expect(await listed(bob, chat)).toMatchObject({ lastReadMessageId: incoming.id, unreadCount: 2 });
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
    const activityOf = (message: Message) => (s: typeof fayInbox) => s.of(InboxEvent.ChatActivity).some((e) => e.lastMessage.id === message.id);
    try {
      const first = await post(chat, dan, "first");
      // The room learns whose inbox is open with its copy to D1 (by design about a second after the
      // first message); run it now: it tells both newly seen inboxes, and Eve's call hangs.
      await copyToD1Now(chat.id);
      await fayInbox.until(activityOf(first), "first activity");
      // From here on messages go through the room's 250 ms windows. The second window's flush waits
      // on Eve; it gives up after its timeout, and the window after it still reaches Fay.
      const started = Date.now();
      const second = await post(chat, dan, "second");
      await fayInbox.until(activityOf(second), "second activity");
      const third = await post(chat, dan, "third");
      await fayInbox.until(activityOf(third), "third activity", 8000);
      expect(fayInbox.of(InboxEvent.ChatActivity).at(-1)).toEqual({ chatId: chat.id, lastMessage: third, unreadCount: 3 });
      // The third window waited for the second's timeout: the hung inbox held it up that long, no longer.
      expect(Date.now() - started).toBeGreaterThanOrEqual(INBOX_DELIVERY_TIMEOUT_MS);
      // Eve's inbox really was called (on first sight and in both windows) and really hung: nothing reached her.
      expect(await deliveriesTo(eve.user.id)).toBeGreaterThanOrEqual(3);
      expect(eveInbox.of(InboxEvent.ChatActivity)).toHaveLength(0);
    } finally {
      await restoreInboxes([eve.user.id]);
    }
    fayInbox.close();
    eveInbox.close();
  }, 15_000);
});
