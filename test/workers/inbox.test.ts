/** The per-user inbox: live chat list updates across chats and devices. */
import { env, evictDurableObject, runInDurableObject, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { ErrorCode } from "../../src/protocol/errors";
import { ClientEvent, InboxEvent, ServerEvent, type InboxPayloads } from "../../src/protocol/events";
import type { InboxRoom } from "../../src/inbox/inbox-room";
import type { Chat } from "../../src/protocol/models";
import { api, BASE, connect, connectInbox, copyToD1Now, createGroup, register, roomStub, type TestSocket, type TestUser } from "./helpers";
import type { ActivityAnnouncer } from "../../src/room/activity";
import type { ChatRoom } from "../../src/room/chat-room";
import { breakInbox, deliveriesTo, inboxStub, relayedTo, restoreInboxes } from "./inbox-hooks";

let ann: TestUser, bob: TestUser, cid: TestUser;
beforeAll(async () => {
  [ann, bob, cid] = await Promise.all([register("ann"), register("bob"), register("cid")]);
});
const post = (chat: Chat, user: TestUser, content: string) =>
  api("POST", `/api/chats/${chat.id}/messages`, { token: user.token, body: { content } });
/** Waits for a chat_activity of `chat` whose newest message is `content` (ids are per chat). */
const activityWith = (inbox: TestSocket<InboxPayloads>, chat: Chat, content: string) =>
  inbox.until((s) => s.of(InboxEvent.ChatActivity).some((e) => e.chatId === chat.id && e.lastMessage.content === content), `activity "${content}"`);
/** The contents of the chat_activity frames the user's inbox was asked to relay for `chat`, socket open or not. */
const relayedActivity = async (user: TestUser, chat: Chat) =>
  (await relayedTo(user.user.id)).flatMap((f) => (f.event === InboxEvent.ChatActivity && f.data.chatId === chat.id ? [f.data.lastMessage.content] : []));
const inboxOpenOnRecord = async (user: TestUser) =>
  (await env.DB.prepare("SELECT inbox_open FROM users WHERE id = ?").bind(user.user.id).first<{ inbox_open: number }>())!.inbox_open === 1;

describe("inbox socket", () => {
  it("greets with inbox_ready and checks the token and upgrade like chat sockets", async () => {
    const inbox = await connectInbox(bob.token);
    expect(inbox.of(InboxEvent.InboxReady)).toEqual([{ userId: bob.user.id }]);
    inbox.ws.send("ping");
    await inbox.until((s) => s.frames.includes("pong"), "pong");
    inbox.close();
    const noToken = await SELF.fetch(`${BASE}/api/inbox/ws`, { headers: { Upgrade: "websocket" } });
    expect(noToken.status).toBe(401);
    const plain = await SELF.fetch(`${BASE}/api/inbox/ws?token=${bob.token}`);
    expect(plain.status).toBe(426);
    expect(await plain.json()).toMatchObject({ code: ErrorCode.UpgradeRequired });
  });
});

describe("activity", () => {
  it("coalesces a burst into few chat_activity events that end in the right state, per chat", async () => {
    const one = await createGroup(ann, [bob], "One");
    const two = await createGroup(ann, [bob], "Two");
    const inbox = await connectInbox(bob.token);
    const a = await connect(one.id, ann.token);
    // A room learns whose inbox is open with its copy to D1 (by design about a second after a first
    // message). One message and that copy, run now, first: the burst then goes through the 250 ms windows.
    a.sendJson(ClientEvent.SendMessage, { content: "warm-up", clientId: "w" });
    await a.next(ServerEvent.MessageSent);
    await copyToD1Now(one.id);
    await activityWith(inbox, one, "warm-up");
    const before = inbox.of(InboxEvent.ChatActivity).length;
    for (let i = 0; i < 15; i++) a.sendJson(ClientEvent.SendMessage, { content: `burst ${i}`, clientId: `b${i}` });
    await a.next(ServerEvent.MessageSent, 16);
    const other = (await post(two, ann, "elsewhere")).body;
    await inbox.until((s) => s.of(InboxEvent.ChatActivity).some((e) => e.chatId === one.id && e.unreadCount === 16), "final state of chat one", 5000);
    await inbox.until((s) => s.of(InboxEvent.ChatActivity).some((e) => e.chatId === two.id), "chat two", 5000);
    const forOne = inbox.of(InboxEvent.ChatActivity).slice(before).filter((e) => e.chatId === one.id);
    expect(forOne.length).toBeLessThanOrEqual(4);
    expect(forOne.at(-1)!.lastMessage.content).toBe("burst 14");
    expect(inbox.of(InboxEvent.ChatActivity).find((e) => e.chatId === two.id)).toEqual({ chatId: two.id, lastMessage: other, unreadCount: 1 });
    // The truth agrees, once D1 has the copy (it may lag the room by the copy delay).
    await copyToD1Now(one.id);
    const list = (await api("GET", "/api/chats", { token: bob.token })).body.chats as Chat[];
    expect(list.find((c) => c.id === one.id)!.unreadCount).toBe(16);
    a.close();
    inbox.close();
  });

  it("tells the sender's own inbox too, with nothing unread", async () => {
    const chat = await createGroup(ann, [bob], "Mine");
    const inbox = await connectInbox(ann.token);
    // No copyToD1Now: the room's own copy (its alarm, about a second later) learns the open inbox and tells it.
    await post(chat, ann, "my own");
    const event = await inbox.next(InboxEvent.ChatActivity);
    expect(event).toMatchObject({ chatId: chat.id, unreadCount: 0, lastMessage: { content: "my own" } });
    inbox.close();
  });
});

describe("membership", () => {
  it("announces chat_added to every member of a new chat and to an added member, chat_removed on removal and leave", async () => {
    const bobInbox = await connectInbox(bob.token);
    const cidInbox = await connectInbox(cid.token);
    const chat = await createGroup(ann, [bob], "Added");
    const added = await bobInbox.next(InboxEvent.ChatAdded);
    expect(added.chat).toMatchObject({ id: chat.id, name: "Added", unreadCount: 0, lastReadMessageId: null });
    expect(added.chat.members).toEqual(chat.members);

    await api("POST", `/api/chats/${chat.id}/members`, { token: ann.token, body: { userId: cid.user.id } });
    expect((await cidInbox.next(InboxEvent.ChatAdded)).chat.id).toBe(chat.id);

    await api("DELETE", `/api/chats/${chat.id}/members/${cid.user.id}`, { token: ann.token });
    expect(await cidInbox.next(InboxEvent.ChatRemoved)).toEqual({ chatId: chat.id });
    await api("DELETE", `/api/chats/${chat.id}/members/${bob.user.id}`, { token: bob.token });
    expect(await bobInbox.next(InboxEvent.ChatRemoved)).toEqual({ chatId: chat.id });

    const direct = await api("POST", "/api/chats", { token: cid.token, body: { type: "direct", userId: bob.user.id } });
    expect((await bobInbox.next(InboxEvent.ChatAdded, 2)).chat.id).toBe(direct.body.id);
    // Opening the same direct chat again adds nothing: the next chat Bob is added to is the next chat_added he hears of.
    await api("POST", "/api/chats", { token: bob.token, body: { type: "direct", userId: cid.user.id } });
    const next = await createGroup(cid, [bob], "Next");
    await bobInbox.next(InboxEvent.ChatAdded, 3);
    expect(bobInbox.of(InboxEvent.ChatAdded).map((e) => e.chat.id)).toEqual([chat.id, direct.body.id, next.id]);
    bobInbox.close();
    cidInbox.close();
  });
});

describe("read markers", () => {
  it("sends chat_read to every device of the reader", async () => {
    const chat = await createGroup(ann, [bob], "Read");
    const m1 = (await post(chat, ann, "one")).body;
    const m2 = (await post(chat, ann, "two")).body;
    const phone = await connectInbox(bob.token);
    const laptop = await connectInbox(bob.token);
    await api("POST", `/api/chats/${chat.id}/read`, { token: bob.token, body: { messageId: m1.id } });
    for (const device of [phone, laptop]) {
      expect(await device.next(InboxEvent.ChatRead)).toEqual({ chatId: chat.id, lastReadMessageId: m1.id, unreadCount: 1 });
    }
    await api("POST", `/api/chats/${chat.id}/read`, { token: bob.token, body: { messageId: m2.id } });
    expect(await laptop.next(InboxEvent.ChatRead, 2)).toEqual({ chatId: chat.id, lastReadMessageId: m2.id, unreadCount: 0 });
    phone.close();
    laptop.close();
  });
});

describe("robustness", () => {
  it("still delivers after the inbox object hibernated", async () => {
    const chat = await createGroup(ann, [cid], "Sleepy");
    const inbox = await connectInbox(cid.token);
    await evictDurableObject(inboxStub(cid.user.id), { webSockets: "hibernate" });
    await post(chat, ann, "wake up");
    expect((await inbox.next(InboxEvent.ChatActivity)).lastMessage.content).toBe("wake up");
    inbox.close();
  });

  it("never makes a sender wait for, or fail because of, a broken inbox", async () => {
    const chat = await createGroup(ann, [bob], "Broken inbox");
    const inbox = await connectInbox(bob.token);
    const a = await connect(chat.id, ann.token);
    const b = await connect(chat.id, bob.token);
    // The room calls only inboxes it knows are open, and learns that with its copy to D1 (by design
    // about a second after a first message): one message and that copy, run now, so that the sends
    // below really call Bob's inbox.
    a.sendJson(ClientEvent.SendMessage, { content: "hello", clientId: "s0" });
    await a.next(ServerEvent.MessageSent);
    await copyToD1Now(chat.id);
    await activityWith(inbox, chat, "hello");
    const base = await deliveriesTo(bob.user.id);
    try {
      // Bob's inbox accepts calls and never answers.
      await breakInbox(bob.user.id, "hang");
      const started = Date.now();
      a.sendJson(ClientEvent.SendMessage, { content: "still fine", clientId: "s1" });
      await a.next(ServerEvent.MessageSent, 2);
      expect(Date.now() - started).toBeLessThan(1000);
      expect((await b.next(ServerEvent.ReceiveMessage, 2)).content).toBe("still fine");
      await vi.waitFor(async () => expect(await deliveriesTo(bob.user.id)).toBe(base + 1), { timeout: 3000 });
      // Now it throws on every call (the room's next window comes once the hung call timed out).
      await breakInbox(bob.user.id, "throw");
      const res = await post(chat, ann, "and again");
      expect(res.status).toBe(201);
      expect((await b.next(ServerEvent.ReceiveMessage, 3)).content).toBe("and again");
      await vi.waitFor(async () => expect(await deliveriesTo(bob.user.id)).toBe(base + 2), { timeout: 5000 });
    } finally {
      await restoreInboxes([bob.user.id]);
    }
    // Working again, the inbox hears the next message; neither message sent while it was broken
    // reached it, so the faults were real.
    await post(chat, ann, "after");
    await activityWith(inbox, chat, "after");
    expect(inbox.of(InboxEvent.ChatActivity).filter((e) => e.chatId === chat.id).map((e) => e.lastMessage.content)).toEqual(["hello", "after"]);
    a.close();
    b.close();
    inbox.close();
  });
});

describe("presence: rooms call only inboxes someone listens to", () => {
  // A room learns which members have an inbox open from D1, in the same batch as each copy of its
  // log to D1 (by design about a second after the first message of a burst). These tests run that
  // copy with `copyToD1Now` where they need the room to have learnt, and otherwise let its alarm do it.

  it("skips a member with no inbox open, reaches them once they open one, and stops when they close it", async () => {
    const [hal, ivy] = await Promise.all([register("hal"), register("ivy")]);
    expect(await deliveriesTo(ivy.user.id)).toBe(0); // watched from here on
    const halInbox = await connectInbox(hal.token);
    const chat = await createGroup(hal, [ivy], "Presence");
    // chat_added is rare and goes to every member, open inbox or not: count from after it.
    await halInbox.next(InboxEvent.ChatAdded);
    await vi.waitFor(async () => expect(await deliveriesTo(ivy.user.id)).toBe(1), { timeout: 3000 });
    const base = 1;
    expect([await inboxOpenOnRecord(hal), await inboxOpenOnRecord(ivy)]).toEqual([true, false]);

    await post(chat, hal, "one");
    await copyToD1Now(chat.id);
    await activityWith(halInbox, chat, "one");
    // Ivy's inbox handles a later request (her connect) before this count: a call made with Hal's would be in it.
    const ivyInbox = await connectInbox(ivy.token);
    expect(await deliveriesTo(ivy.user.id)).toBe(base);

    // Opened later: the room sees it with its next copy (its alarm, here), and the first activity
    // carries everything she missed in the count.
    expect(await inboxOpenOnRecord(ivy)).toBe(true);
    await post(chat, hal, "two");
    expect(await ivyInbox.next(InboxEvent.ChatActivity)).toMatchObject({ chatId: chat.id, unreadCount: 2, lastMessage: { content: "two" } });
    expect(await deliveriesTo(ivy.user.id)).toBeGreaterThan(base);

    ivyInbox.close();
    await vi.waitFor(async () => expect(await inboxOpenOnRecord(ivy)).toBe(false), { timeout: 3000 });
    // Until its next copy the room may still call her once (harmless: her inbox finds no socket);
    // from that copy on it does not.
    await post(chat, hal, "three");
    await copyToD1Now(chat.id);
    await post(chat, hal, "four");
    await activityWith(halInbox, chat, "four");
    // The room flushes one window at a time: Hal hearing of "five" means the window that carried
    // "four" has finished all its calls.
    await post(chat, hal, "five");
    await activityWith(halInbox, chat, "five");
    const toIvy = await relayedActivity(ivy, chat);
    expect([["two"], ["two", "three"]]).toContainEqual(toIvy);
    halInbox.close();
  });

  it("a room that wakes learns who listens with one read, not a copy: its first message reaches open inboxes while copies are held", async () => {
    const [kim, lou] = await Promise.all([register("kim"), register("lou")]);
    const kimInbox = await connectInbox(kim.token);
    const chat = await createGroup(kim, [lou], "Learn");
    await kimInbox.next(InboxEvent.ChatAdded);
    type Copy = { run: () => Promise<void> };
    let releaseCopies!: () => void;
    const copiesHeld = new Promise<void>((r) => (releaseCopies = r));
    const learnt = await runInDurableObject(roomStub(chat.id), (room: ChatRoom) => {
      const copy = (room as unknown as { d1Copy: Copy }).d1Copy;
      const run = copy.run.bind(copy);
      copy.run = () => copiesHeld.then(run);
      return (room as unknown as { activity: ActivityAnnouncer }).activity.knowsInboxes;
    });
    expect(learnt).toBe(false);

    await post(chat, lou, "first");
    expect(await kimInbox.next(InboxEvent.ChatActivity)).toMatchObject({ chatId: chat.id, unreadCount: 1, lastMessage: { content: "first" } });
    const inD1 = await env.DB.prepare("SELECT count(*) AS n FROM messages WHERE chat_id = ?").bind(chat.id).first<{ n: number }>();
    expect(inD1?.n).toBe(0);
    await runInDurableObject(roomStub(chat.id), () => releaseCopies());
    await copyToD1Now(chat.id);
    kimInbox.close();
  });

  it("keeps the record open while one of several devices is", async () => {
    const jan = await register("jan");
    const [phone, laptop] = [await connectInbox(jan.token), await connectInbox(jan.token)];
    phone.close();
    // The inbox echoed the close, then queued its presence write; wait for that write to finish.
    await phone.until((s) => s.closed !== null, "phone closed");
    await runInDurableObject(inboxStub(jan.user.id), (room: InboxRoom) => (room as unknown as { presence: Promise<void> }).presence);
    expect(await inboxOpenOnRecord(jan)).toBe(true);
    laptop.close();
    await vi.waitFor(async () => expect(await inboxOpenOnRecord(jan)).toBe(false), { timeout: 3000 });
  });

  it("writes its record once per change, not on every call a room makes while nobody listens", async () => {
    const mo = await register("mo");
    let statements = 0;
    const countStatements = () =>
      runInDurableObject(inboxStub(mo.user.id), (inbox: InboxRoom) => {
        const internals = inbox as unknown as { d1: D1Database };
        const real = internals.d1;
        internals.d1 = new Proxy(real, {
          get: (target, prop) => (prop === "prepare" ? (query: string) => (statements++, target.prepare(query)) : (Reflect.get(target, prop, target) as unknown)),
        });
      });
    /** A fresh instance (as after a restart), its D1 statements counted. */
    const restart = async () => {
      await evictDurableObject(inboxStub(mo.user.id));
      await countStatements();
    };
    const frame = JSON.stringify({ event: InboxEvent.ChatRead, data: { chatId: 1, lastReadMessageId: 1, unreadCount: 0 } });
    // A new user's record says "closed" (the column's default), and their inbox knows it: a chat
    // created with them (chat_added, with nobody listening) costs no D1 write.
    await countStatements();
    for (let i = 0; i < 5; i++) await inboxStub(mo.user.id).relay([frame]);
    expect(statements).toBe(0);
    (await connectInbox(mo.token)).close();
    await vi.waitFor(async () => expect(await inboxOpenOnRecord(mo)).toBe(false), { timeout: 3000 });
    statements = 0;
    // A fresh instance knows what is on record from its own storage: it writes nothing.
    await restart();
    for (let i = 0; i < 5; i++) await inboxStub(mo.user.id).relay([frame]);
    expect(statements).toBe(0);
    // An inbox that kept nothing (from before it did) does not know: it writes once.
    await runInDurableObject(inboxStub(mo.user.id), (_inbox: InboxRoom, state) => void state.storage.kv.delete("inbox_open_recorded"));
    await restart();
    for (let i = 0; i < 5; i++) await inboxStub(mo.user.id).relay([frame]);
    expect(statements).toBe(1);
    expect(await inboxOpenOnRecord(mo)).toBe(false);
    // A change is still written: opening, then closing.
    const inbox = await connectInbox(mo.token);
    expect(await inboxOpenOnRecord(mo)).toBe(true);
    inbox.close();
    await vi.waitFor(async () => expect(await inboxOpenOnRecord(mo)).toBe(false), { timeout: 3000 });
    expect(statements).toBe(3);
  });

  it("corrects an open record that outlived its sockets on the next call", async () => {
    const [kit, lee] = await Promise.all([register("kit"), register("lee")]);
    expect(await deliveriesTo(lee.user.id)).toBe(0); // watched from here on
    const kitInbox = await connectInbox(kit.token);
    const chat = await createGroup(kit, [lee], "Stale");
    await kitInbox.next(InboxEvent.ChatAdded);
    await vi.waitFor(async () => expect(await deliveriesTo(lee.user.id)).toBe(1), { timeout: 3000 }); // her chat_added
    // Lee's inbox has been opened once, then a close went missing: the runtime restarted her inbox
    // (a new instance, which finds "open" as the last thing written) after "open" was written.
    (await connectInbox(lee.token)).close();
    await vi.waitFor(async () => expect(await inboxOpenOnRecord(lee)).toBe(false), { timeout: 3000 });
    await env.DB.prepare("UPDATE users SET inbox_open = 1 WHERE id = ?").bind(lee.user.id).run();
    await runInDurableObject(inboxStub(lee.user.id), (_inbox: InboxRoom, state) => void state.storage.kv.put("inbox_open_recorded", 1));
    await evictDurableObject(inboxStub(lee.user.id));
    const before = await deliveriesTo(lee.user.id);

    // The room's copy reads the stale "open" and calls her inbox, which finds no socket and puts the record right.
    await post(chat, kit, "anyone there?");
    await copyToD1Now(chat.id);
    await activityWith(kitInbox, chat, "anyone there?");
    await vi.waitFor(async () => expect(await inboxOpenOnRecord(lee)).toBe(false), { timeout: 3000 });
    expect(await deliveriesTo(lee.user.id)).toBe(before + 1);

    // The room's next copy sees the corrected record; from then on it calls only Kit.
    await post(chat, kit, "hello?");
    await copyToD1Now(chat.id);
    await post(chat, kit, "still there?");
    await activityWith(kitInbox, chat, "still there?");
    // Kit hearing of a later window means the one that carried "still there?" has finished all its calls.
    await post(chat, kit, "bye");
    await activityWith(kitInbox, chat, "bye");
    const toLee = await relayedActivity(lee, chat);
    expect([["anyone there?"], ["anyone there?", "hello?"]]).toContainEqual(toLee);
    expect(await inboxOpenOnRecord(lee)).toBe(false);
    kitInbox.close();
  });
});
