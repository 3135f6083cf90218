/**
 * Large chats (docs/PROTOCOL.md, "Large chats"): from LARGE_ROOM_MEMBERS active members on, presence
 * is a count, typing is throttled and capped, and inbox calls are paced. Each test lowers the
 * threshold on its own room (the var stays 1,000 for every other test) and holds the room's windows
 * open by taking their timers, so what a window sends is checked when the test closes it.
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ClientEvent, InboxEvent, ServerEvent } from "../../src/protocol/events";
import type { ChatRoom } from "../../src/room/chat-room";
import { LARGE_INBOX_WINDOW_MS } from "../../src/room/activity";
import { LARGE_ROOM_KEY, TypingThrottle } from "../../src/room/large-room";
import { api, connect, connectInbox, createGroup, register, roomStub, until, type TestSocket, type TestUser } from "./helpers";
import { deliveriesTo, relayedTo } from "./inbox-hooks";
import { knowsInboxes, learnInboxes } from "./push-hooks";

interface RoomInternals {
  largeFrom: number;
  occupancy: { schedule: (fn: () => void, ms: number) => unknown };
  typing: { throttle: TypingThrottle };
  activity: { coalescer: { schedule: (fn: () => void, ms: number) => unknown } };
}
const inRoom = <T>(chatId: number, fn: (room: RoomInternals, state: DurableObjectState) => T) =>
  runInDurableObject(roomStub(chatId), (room: ChatRoom, state) => fn(room as unknown as RoomInternals, state));

/** A new group of `size`, large from `largeFrom` members on, with its occupancy windows held: `endWindow` sends one. */
async function chatOf(size: number, largeFrom: number) {
  const users = await Promise.all(Array.from({ length: size }, () => register("lg")));
  const chat = await createGroup(users[0]!, users.slice(1));
  const windows: (() => void)[] = [];
  await inRoom(chat.id, (room) => {
    room.largeFrom = largeFrom;
    room.occupancy.schedule = (fn) => windows.push(fn);
  });
  // A close reaches the room on its own path: wait for the window it opened before ending it.
  const endWindow = async () => {
    await until(() => windows.length > 0, "an occupancy window");
    await inRoom(chat.id, () => windows.shift()!());
  };
  return { users, chat, windows, endWindow };
}

/** Everything before it has been handled when each socket has the probe (one HTTP post). */
async function probe(chatId: number, from: TestUser, sockets: TestSocket[]) {
  const posted = await api("POST", `/api/chats/${chatId}/messages`, { token: from.token, body: { content: "probe" } });
  for (const s of sockets) await s.until((x) => x.of(ServerEvent.ReceiveMessage).some((m) => m.id === posted.body.id), "the probe");
  return posted.body.id as number;
}

const presence = (s: TestSocket) => s.frames.filter((f) => f !== "pong" && [ServerEvent.UserOnline, ServerEvent.UserOffline, ServerEvent.Occupancy].includes(f.event as never));

describe("large chats", () => {
  it("below the threshold nothing changes: the online list, user_online / user_offline, every typing_start announced", async () => {
    const { users, chat, windows } = await chatOf(3, 4);
    const [ann, bob] = users as [TestUser, TestUser];
    const a = await connect(chat.id, ann.token);
    const b = await connect(chat.id, bob.token);
    const joined = b.of(ServerEvent.JoinedChat)[0]!;
    expect(joined).toEqual({ chatId: chat.id, message: "Successfully joined chat", online: expect.any(Array), lastChangeId: 0 });
    expect([...joined.online].sort((x, y) => x.id - y.id)).toEqual([ann.user, bob.user].sort((x, y) => x.id - y.id));
    await a.next(ServerEvent.UserOnline);
    b.sendJson(ClientEvent.TypingStart, {});
    b.sendJson(ClientEvent.TypingStart, {});
    await a.next(ServerEvent.UserTyping, 2);
    b.close();
    await a.next(ServerEvent.UserOffline);
    expect(windows).toEqual([]);
    expect(presence(a)).toEqual([{ event: ServerEvent.UserOnline, data: { chatId: chat.id, user: bob.user } }, { event: ServerEvent.UserOffline, data: { chatId: chat.id, user: bob.user } }]);
    a.close();
  });

  it("presence is a count: joined_chat carries onlineCount and no list, and sockets hear occupancy once per window instead of each connect and close", async () => {
    const { users, chat, windows, endWindow } = await chatOf(3, 3);
    const [ann, bob, cid] = users as [TestUser, TestUser, TestUser];
    const a = await connect(chat.id, ann.token);
    expect(a.of(ServerEvent.JoinedChat)[0]).toEqual({ chatId: chat.id, message: "Successfully joined chat", online: [], lastChangeId: 0, onlineCount: 1 });
    await endWindow();
    const one = { event: ServerEvent.Occupancy, data: { chatId: chat.id, online: 1 } };
    await a.until((x) => presence(x).length === 1, "the first count");
    const b = await connect(chat.id, bob.token);
    const b2 = await connect(chat.id, bob.token);
    const c = await connect(chat.id, cid.token);
    expect(c.of(ServerEvent.JoinedChat)[0]).toMatchObject({ online: [], onlineCount: 3 });
    await probe(chat.id, ann, [a, b, c]);
    // One window for the three connects, not yet ended: nothing about presence has been sent.
    expect(windows.length).toBe(1);
    expect(presence(a)).toEqual([one]);
    for (const s of [b, b2, c]) expect(presence(s)).toEqual([]);
    await endWindow();
    const three = { event: ServerEvent.Occupancy, data: { chatId: chat.id, online: 3 } };
    await a.until((x) => presence(x).length === 2, "occupancy");
    for (const s of [b, b2, c]) await s.until((x) => presence(x).length === 1, "occupancy");
    expect(presence(a)).toEqual([one, three]);
    for (const s of [b, b2, c]) expect(presence(s)).toEqual([three]);

    // A second device closing changes no count; the user's last one does.
    b2.close();
    await endWindow();
    b.close();
    await endWindow();
    await a.until((x) => presence(x).length === 3, "the second count");
    await probe(chat.id, ann, [a, c]);
    const two = { event: ServerEvent.Occupancy, data: { chatId: chat.id, online: 2 } };
    expect(presence(a)).toEqual([one, three, two]);
    expect(presence(c)).toEqual([three, two]);
    for (const s of [a, c]) s.close();
  });

  it("a chat becomes large when an add reaches the threshold: every socket hears the count at once; it stays large when members leave", async () => {
    const { users, chat, windows, endWindow } = await chatOf(2, 3);
    const [ann, bob] = users as [TestUser, TestUser];
    const dan = await register("lg");
    const a = await connect(chat.id, ann.token);
    const b = await connect(chat.id, bob.token);
    await a.next(ServerEvent.UserOnline);
    expect((await api("POST", `/api/chats/${chat.id}/members`, { token: ann.token, body: { userId: dan.user.id } })).status).toBe(201);
    for (const s of [a, b]) expect(await s.next(ServerEvent.Occupancy)).toEqual({ chatId: chat.id, online: 2 });
    expect(await inRoom(chat.id, (_room, state) => state.storage.kv.get(LARGE_ROOM_KEY))).toBe(1);

    // Down to two members again: still large.
    expect((await api("DELETE", `/api/chats/${chat.id}/members/${dan.user.id}`, { token: ann.token })).status).toBe(204);
    b.close();
    await endWindow();
    await a.next(ServerEvent.Occupancy, 2);
    expect(a.of(ServerEvent.Occupancy)[1]).toEqual({ chatId: chat.id, online: 1 });
    expect(a.of(ServerEvent.UserOffline)).toEqual([]);
    expect(windows).toEqual([]);
    a.close();
  });

  it("typing is throttled and capped: renewals are not announced, a start within the interval is dropped, and no more than the cap are named", async () => {
    const { users, chat } = await chatOf(5, 3);
    const [ann, bob, cid, dan, eve] = users as [TestUser, TestUser, TestUser, TestUser, TestUser];
    // Two named typists at most; a user may begin typing once per minute (no test waits that long).
    await inRoom(chat.id, (room) => void (room.typing.throttle = new TypingThrottle(60_000, 2)));
    const [a, b, c, d, e] = (await Promise.all([ann, bob, cid, dan, eve].map((u) => connect(chat.id, u.token)))) as [TestSocket, TestSocket, TestSocket, TestSocket, TestSocket];
    // Each step waits until the room has handled it: frames of different sockets may arrive in any order.
    const seenBy = (s: TestSocket, content: string) => s.until((x) => x.of(ServerEvent.ReceiveMessage).some((m) => m.content === content), content);
    b.sendJson(ClientEvent.TypingStart, {});
    b.sendJson(ClientEvent.TypingStart, {}); // a renewal
    b.sendJson(ClientEvent.TypingStop, {});
    b.sendJson(ClientEvent.TypingStart, {}); // within the interval: dropped, and so is its stop
    b.sendJson(ClientEvent.TypingStop, {});
    b.sendJson(ClientEvent.SendMessage, { content: "bob's probe" });
    await seenBy(a, "bob's probe");
    c.sendJson(ClientEvent.TypingStart, {});
    await a.next(ServerEvent.UserTyping, 2);
    d.sendJson(ClientEvent.TypingStart, {});
    await a.next(ServerEvent.UserTyping, 3);
    e.sendJson(ClientEvent.TypingStart, {}); // the cap: two are typing (cid, dan)
    e.sendJson(ClientEvent.SendMessage, { content: "eve's probe" });
    await seenBy(a, "eve's probe");
    const typing = a.frames.flatMap((f) => (f !== "pong" && (f.event === ServerEvent.UserTyping || f.event === ServerEvent.UserStoppedTyping) ? [`${f.event} ${(f.data as { user: { id: number } }).user.id}`] : []));
    expect(typing).toEqual([`${ServerEvent.UserTyping} ${bob.user.id}`, `${ServerEvent.UserStoppedTyping} ${bob.user.id}`, `${ServerEvent.UserTyping} ${cid.user.id}`, `${ServerEvent.UserTyping} ${dan.user.id}`]);
    // Their ends are announced once each (the send ends cid's, the close dan's).
    c.sendJson(ClientEvent.SendMessage, { content: "done typing" });
    d.close();
    await a.until((x) => x.of(ServerEvent.UserStoppedTyping).length === 3, "two more ends");
    await probe(chat.id, ann, [a, b, c, e]);
    expect(a.of(ServerEvent.UserStoppedTyping).map((t) => t.user.id)).toEqual([bob.user.id, cid.user.id, dan.user.id]);
    for (const s of [a, b, c, e]) s.close();
  });

  it("inbox calls are paced: reads wait for the window instead of a call each, and each open inbox gets one call per window", async () => {
    const { users, chat } = await chatOf(3, 3);
    const [ann, bob, cid] = users as [TestUser, TestUser, TestUser];
    const inboxes = await Promise.all([bob, cid].map((u) => connectInbox(u.token)));
    await learnInboxes(chat.id);
    expect(await knowsInboxes(chat.id)).toBe(true);
    const windows: { fn: () => void; ms: number }[] = [];
    await inRoom(chat.id, (room) => void (room.activity.coalescer.schedule = (fn, ms) => windows.push({ fn, ms })));
    const before = await Promise.all([bob, cid].map((u) => deliveriesTo(u.user.id)));

    const first = await api("POST", `/api/chats/${chat.id}/messages`, { token: ann.token, body: { content: "one" } });
    const second = await api("POST", `/api/chats/${chat.id}/messages`, { token: ann.token, body: { content: "two" } });
    for (const reader of [bob, cid]) {
      for (const id of [first.body.id, second.body.id]) expect((await api("POST", `/api/chats/${chat.id}/read`, { token: reader.token, body: { messageId: id } })).status).toBe(204);
    }
    // A small chat would have called each reader's inbox at once, twice; here nothing yet.
    expect(await Promise.all([bob, cid].map((u) => deliveriesTo(u.user.id)))).toEqual(before);
    expect(windows.map((w) => w.ms)).toEqual([LARGE_INBOX_WINDOW_MS]);

    await inRoom(chat.id, () => windows.shift()!.fn());
    for (const inbox of inboxes) expect(await inbox.next(InboxEvent.ChatRead)).toEqual({ chatId: chat.id, lastReadMessageId: second.body.id, unreadCount: 0 });
    for (const [i, u] of [bob, cid].entries()) {
      expect(await deliveriesTo(u.user.id)).toBe(before[i]! + 1);
      expect((await relayedTo(u.user.id)).slice(-2).map((f) => f.event)).toEqual([InboxEvent.ChatActivity, InboxEvent.ChatRead]);
    }
    for (const s of inboxes) s.close();
  });
});
