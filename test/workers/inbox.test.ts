/** The per-user inbox: live chat list updates across chats and devices. */
import { env, evictDurableObject, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { ErrorCode } from "../../src/protocol/errors";
import { ClientEvent, InboxEvent, ServerEvent } from "../../src/protocol/events";
import type { Chat } from "../../src/protocol/models";
import { api, BASE, connect, connectInbox, createGroup, register, type TestUser } from "./helpers";
import { breakInbox, deliveriesTo, inboxStub, restoreInboxes } from "./inbox-hooks";

let ann: TestUser, bob: TestUser, cid: TestUser;
beforeAll(async () => {
  [ann, bob, cid] = await Promise.all([register("ann"), register("bob"), register("cid")]);
});
const post = (chat: Chat, user: TestUser, content: string) =>
  api("POST", `/api/chats/${chat.id}/messages`, { token: user.token, body: { content } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
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
    for (let i = 0; i < 15; i++) a.sendJson(ClientEvent.SendMessage, { content: `burst ${i}`, clientId: `b${i}` });
    await a.next(ServerEvent.MessageSent, 15);
    const other = (await post(two, ann, "elsewhere")).body;
    await inbox.until((s) => s.of(InboxEvent.ChatActivity).some((e) => e.chatId === one.id && e.unreadCount === 15), "final state of chat one", 5000);
    await inbox.until((s) => s.of(InboxEvent.ChatActivity).some((e) => e.chatId === two.id), "chat two", 5000);
    const forOne = inbox.of(InboxEvent.ChatActivity).filter((e) => e.chatId === one.id);
    expect(forOne.length).toBeLessThanOrEqual(4);
    expect(forOne.at(-1)!.lastMessage.content).toBe("burst 14");
    expect(inbox.of(InboxEvent.ChatActivity).find((e) => e.chatId === two.id)).toEqual({ chatId: two.id, lastMessage: other, unreadCount: 1 });
    // The truth agrees.
    const list = (await api("GET", "/api/chats", { token: bob.token })).body.chats as Chat[];
    expect(list.find((c) => c.id === one.id)!.unreadCount).toBe(15);
    a.close();
    inbox.close();
  });

  it("tells the sender's own inbox too, with nothing unread", async () => {
    const chat = await createGroup(ann, [bob], "Mine");
    const inbox = await connectInbox(ann.token);
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
    // Opening the same direct chat again adds nothing.
    await api("POST", "/api/chats", { token: bob.token, body: { type: "direct", userId: cid.user.id } });
    await sleep(200);
    expect(bobInbox.of(InboxEvent.ChatAdded)).toHaveLength(2);
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
    try {
      // Bob's inbox accepts calls and never answers.
      await breakInbox(bob.user.id, "hang");
      const started = Date.now();
      a.sendJson(ClientEvent.SendMessage, { content: "still fine", clientId: "s1" });
      await a.next(ServerEvent.MessageSent);
      expect(Date.now() - started).toBeLessThan(1000);
      expect((await b.next(ServerEvent.ReceiveMessage)).content).toBe("still fine");
      // Now it throws on every call.
      await breakInbox(bob.user.id, "throw");
      const res = await post(chat, ann, "and again");
      expect(res.status).toBe(201);
      expect((await b.next(ServerEvent.ReceiveMessage, 2)).content).toBe("and again");
      // Neither message reached the broken inbox, so the faults were real.
      await sleep(300);
      expect(inbox.of(InboxEvent.ChatActivity)).toHaveLength(0);
    } finally {
      await restoreInboxes([bob.user.id]);
    }
    a.close();
    b.close();
    inbox.close();
  });
});

describe("presence: rooms call only inboxes someone listens to", () => {
  it("skips a member with no inbox open, reaches them once they open one, and stops when they close it", async () => {
    const [hal, ivy] = await Promise.all([register("hal"), register("ivy")]);
    const halInbox = await connectInbox(hal.token);
    const chat = await createGroup(hal, [ivy], "Presence");
    // chat_added is rare and goes to every member, open inbox or not: count from after it.
    await halInbox.next(InboxEvent.ChatAdded);
    await sleep(100);
    const base = await deliveriesTo(ivy.user.id);
    expect([await inboxOpenOnRecord(hal), await inboxOpenOnRecord(ivy)]).toEqual([true, false]);

    await post(chat, hal, "one");
    await halInbox.next(InboxEvent.ChatActivity);
    await sleep(100);
    expect(await deliveriesTo(ivy.user.id)).toBe(base);

    // Opened later: the first activity carries everything she missed in the count.
    const ivyInbox = await connectInbox(ivy.token);
    expect(await inboxOpenOnRecord(ivy)).toBe(true);
    await post(chat, hal, "two");
    expect(await ivyInbox.next(InboxEvent.ChatActivity)).toMatchObject({ chatId: chat.id, unreadCount: 2 });
    const whileOpen = await deliveriesTo(ivy.user.id);
    expect(whileOpen).toBeGreaterThan(base);

    ivyInbox.close();
    await vi.waitFor(async () => expect(await inboxOpenOnRecord(ivy)).toBe(false), { timeout: 3000 });
    await post(chat, hal, "three");
    await halInbox.until((s) => s.of(InboxEvent.ChatActivity).some((e) => e.lastMessage.content === "three"), "three");
    await sleep(100);
    expect(await deliveriesTo(ivy.user.id)).toBe(whileOpen);
    halInbox.close();
  });

  it("keeps the record open while one of several devices is", async () => {
    const jan = await register("jan");
    const [phone, laptop] = [await connectInbox(jan.token), await connectInbox(jan.token)];
    phone.close();
    await sleep(200);
    expect(await inboxOpenOnRecord(jan)).toBe(true);
    laptop.close();
    await vi.waitFor(async () => expect(await inboxOpenOnRecord(jan)).toBe(false), { timeout: 3000 });
  });

  it("corrects an open record that outlived its sockets on the next call", async () => {
    const [kit, lee] = await Promise.all([register("kit"), register("lee")]);
    const kitInbox = await connectInbox(kit.token);
    const chat = await createGroup(kit, [lee], "Stale");
    await kitInbox.next(InboxEvent.ChatAdded);
    // Lee's inbox knows whose it is (she connected once), then a close went missing.
    (await connectInbox(lee.token)).close();
    await vi.waitFor(async () => expect(await inboxOpenOnRecord(lee)).toBe(false), { timeout: 3000 });
    await env.DB.prepare("UPDATE users SET inbox_open = 1 WHERE id = ?").bind(lee.user.id).run();
    const before = await deliveriesTo(lee.user.id);

    await post(chat, kit, "anyone there?");
    await kitInbox.next(InboxEvent.ChatActivity);
    await vi.waitFor(async () => expect(await inboxOpenOnRecord(lee)).toBe(false), { timeout: 3000 });
    expect(await deliveriesTo(lee.user.id)).toBe(before + 1);

    await post(chat, kit, "hello?");
    await kitInbox.next(InboxEvent.ChatActivity, 2);
    await sleep(100);
    expect(await deliveriesTo(lee.user.id)).toBe(before + 1);
    kitInbox.close();
  });
});
