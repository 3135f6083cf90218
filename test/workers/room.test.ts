/** The WebSocket half of the contract, through the Worker, with real sockets, rooms and D1. */
import { env, evictDurableObject, runInDurableObject, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { CloseCode, ErrorCode } from "../../src/protocol/errors";
import { ClientEvent, JOINED_MESSAGE, PING, PONG, ServerEvent } from "../../src/protocol/events";
import { limits } from "../../src/protocol/limits";
import type { Chat } from "../../src/protocol/models";
import type { ChatRoom } from "../../src/room/chat-room";
import type { Presence } from "../../src/room/presence";
import { api, BASE, connect, createGroup, register, TestSocket, type TestUser } from "./helpers";

const roomStub = (chatId: number) => env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(String(chatId)));
const ids = (s: TestSocket) => s.of(ServerEvent.ReceiveMessage).map((m) => m.id);

let ann: TestUser, bob: TestUser, cid: TestUser, dan: TestUser;
beforeAll(async () => {
  [ann, bob, cid, dan] = await Promise.all([register("ann"), register("bob"), register("cid"), register("dan")]);
});
const group = (name = "Room") => createGroup(ann, [bob, cid], name);

describe("upgrade checks (plain HTTP before any upgrade)", () => {
  let chat: Chat;
  beforeAll(async () => {
    chat = await group();
  });
  const upgrade = (path: string, headers: Record<string, string> = {}) =>
    SELF.fetch(BASE + path, { headers: { Upgrade: "websocket", ...headers } });

  it("401 without or with a bad token, in header or query", async () => {
    for (const res of [
      await upgrade(`/api/chats/${chat.id}/ws`),
      await upgrade(`/api/chats/${chat.id}/ws?token=not.a.jwt`),
      await upgrade(`/api/chats/${chat.id}/ws`, { Authorization: "Bearer nope" }),
    ]) {
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ code: ErrorCode.Unauthorized });
    }
  });

  it("404 for no such chat, 403 for a non-member, 426 without Upgrade", async () => {
    const missing = await upgrade(`/api/chats/999999/ws?token=${ann.token}`);
    expect(missing.status).toBe(404);
    const outsider = await upgrade(`/api/chats/${chat.id}/ws?token=${dan.token}`);
    expect(outsider.status).toBe(403);
    const plain = await SELF.fetch(`${BASE}/api/chats/${chat.id}/ws`, { headers: { Authorization: `Bearer ${ann.token}` } });
    expect(plain.status).toBe(426);
    expect(await plain.json()).toMatchObject({ code: ErrorCode.UpgradeRequired });
  });

  it("accepts the token from the query string, as browsers send it", async () => {
    const res = await upgrade(`/api/chats/${chat.id}/ws?token=${bob.token}`);
    expect(res.status).toBe(101);
    res.webSocket!.accept();
    const socket = new TestSocket(res.webSocket!);
    const joined = await socket.next(ServerEvent.JoinedChat);
    expect(joined).toMatchObject({ chatId: chat.id, message: JOINED_MESSAGE });
    socket.close();
  });

  it("ignores a user header forged by the client", async () => {
    const res = await upgrade(`/api/chats/${chat.id}/ws`, {
      Authorization: `Bearer ${bob.token}`,
      "X-Edge-Chat-Caller": JSON.stringify({ user: ann.user, session: { version: 0, expiresAt: Date.now() + 60_000 } }),
    });
    res.webSocket!.accept();
    const socket = new TestSocket(res.webSocket!);
    const joined = await socket.next(ServerEvent.JoinedChat);
    expect(joined.online.map((u) => u.id)).toContain(bob.user.id);
    expect(joined.online.map((u) => u.id)).not.toContain(ann.user.id);
    socket.close();
  });
});

describe("presence and joining", () => {
  it("joined_chat lists who is online; user_online and user_offline mark first and last sockets", async () => {
    const chat = await group();
    const a = await connect(chat.id, ann.token);
    expect(a.of(ServerEvent.JoinedChat)[0]!.online).toEqual([ann.user]);
    const b1 = await connect(chat.id, bob.token);
    expect(b1.of(ServerEvent.JoinedChat)[0]!.online.map((u) => u.id).sort()).toEqual([ann.user.id, bob.user.id].sort());
    await a.next(ServerEvent.UserOnline);
    expect(a.of(ServerEvent.UserOnline)).toEqual([{ chatId: chat.id, user: bob.user }]);
    // Bob's second device: not a new arrival.
    const b2 = await connect(chat.id, bob.token);
    b1.close();
    // The room echoes the close in the same turn it would announce user_offline; a's next answer
    // comes after anything that turn sent, so the absence below is meaningful.
    await b1.until((s) => s.closed !== null, "close echo");
    a.sendJson(ClientEvent.JoinChat, { chatId: chat.id });
    await a.next(ServerEvent.JoinedChat, 2);
    expect(a.of(ServerEvent.UserOnline)).toHaveLength(1);
    expect(a.of(ServerEvent.UserOffline)).toHaveLength(0);
    b2.close();
    const offline = await a.next(ServerEvent.UserOffline);
    expect(offline).toEqual({ chatId: chat.id, user: bob.user });
    a.close();
  });

  it("a user back within the presence grace (a reload) is announced neither gone nor back; joined_chat meanwhile lists them", async () => {
    const chat = await group();
    const a = await connect(chat.id, ann.token);
    const b1 = await connect(chat.id, bob.token);
    await a.next(ServerEvent.UserOnline);
    // The grace's end is held here: it runs only when the test says.
    await runInDurableObject(roomStub(chat.id), (room: ChatRoom) => {
      const inside = room as unknown as { presence: Presence; held: (() => void)[]; at: number };
      inside.held = [];
      inside.at = 0;
      inside.presence.clock = {
        set: (fn) => inside.held.push(fn) - 1,
        clear: (timer) => void (inside.held[timer as number] = () => {}),
        now: () => inside.at,
      };
    });
    const endGraces = () => runInDurableObject(roomStub(chat.id), (room: ChatRoom) => {
      const inside = room as unknown as { held: (() => void)[]; at: number };
      inside.at += limits.presenceGraceMs;
      for (const fn of inside.held.splice(0)) fn();
    });

    b1.close();
    await b1.until((s) => s.closed !== null, "close echo");
    a.sendJson(ClientEvent.JoinChat, { chatId: chat.id });
    const during = await a.next(ServerEvent.JoinedChat, 2);
    expect(during.online.map((u) => u.id).sort()).toEqual([ann.user.id, bob.user.id].sort());
    // Back before the grace ended: the offline held back is cancelled.
    const b2 = await connect(chat.id, bob.token);
    await endGraces();
    a.sendJson(ClientEvent.JoinChat, { chatId: chat.id });
    await a.next(ServerEvent.JoinedChat, 3);
    expect(a.of(ServerEvent.UserOnline)).toHaveLength(1);
    expect(a.of(ServerEvent.UserOffline)).toHaveLength(0);

    // Gone for good: announced when the grace ends, not before.
    b2.close();
    await b2.until((s) => s.closed !== null, "close echo");
    a.sendJson(ClientEvent.JoinChat, { chatId: chat.id });
    await a.next(ServerEvent.JoinedChat, 4);
    expect(a.of(ServerEvent.UserOffline)).toHaveLength(0);
    await endGraces();
    expect(await a.next(ServerEvent.UserOffline)).toEqual({ chatId: chat.id, user: bob.user });
    a.sendJson(ClientEvent.JoinChat, { chatId: chat.id });
    expect((await a.next(ServerEvent.JoinedChat, 5)).online).toEqual([ann.user]);
    a.close();
  });

  it("join_chat answers joined_chat again; another chat's id is wrong_chat and the socket stays", async () => {
    const chat = await group();
    const a = await connect(chat.id, ann.token);
    a.sendJson(ClientEvent.JoinChat, { chatId: chat.id });
    await a.next(ServerEvent.JoinedChat, 2);
    a.sendJson(ClientEvent.JoinChat, { chatId: chat.id + 1000 });
    const error = await a.next(ServerEvent.Error);
    expect(error).toMatchObject({ code: ErrorCode.WrongChat, event: ClientEvent.JoinChat });
    a.sendJson(ClientEvent.SendMessage, { chatId: chat.id + 1000, content: "x", clientId: "w1" });
    expect(await a.next(ServerEvent.Error, 2)).toMatchObject({ code: ErrorCode.WrongChat, clientId: "w1" });
    a.sendJson(ClientEvent.SendMessage, { chatId: chat.id, content: "still here" });
    await a.next(ServerEvent.MessageSent);
    a.close();
  });

  it("answers the text frame ping with pong", async () => {
    const chat = await group();
    const a = await connect(chat.id, ann.token);
    a.ws.send(PING);
    await a.until((s) => s.frames.includes(PONG as "pong"), "pong");
    a.close();
  });
});

describe("messages", () => {
  it("acks the sender only after storing, and delivers to every other socket including the sender's other device", async () => {
    const chat = await group();
    const a1 = await connect(chat.id, ann.token);
    const a2 = await connect(chat.id, ann.token);
    const b = await connect(chat.id, bob.token);
    const content = "<b>hi</b> & 👋 \u202e";
    a1.sendJson(ClientEvent.SendMessage, { chatId: chat.id, content, clientId: "m-1" });
    const ack = await a1.next(ServerEvent.MessageSent);
    expect(ack).toMatchObject({ chatId: chat.id, clientId: "m-1" });
    expect(ack.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const stored = await api("GET", `/api/chats/${chat.id}/messages`, { token: cid.token });
    expect(stored.body.messages).toEqual([
      { id: ack.messageId, chatId: chat.id, sender: ann.user, content, timestamp: ack.timestamp, editedAt: null, deleted: false, reactions: [], replyTo: null, attachments: [] },
    ]);
    for (const other of [a2, b]) {
      const got = await other.next(ServerEvent.ReceiveMessage);
      expect(got).toEqual(stored.body.messages[0]);
    }
    // A later frame to a1 arrives after anything the send turn sent it.
    a1.sendJson(ClientEvent.JoinChat, { chatId: chat.id });
    await a1.next(ServerEvent.JoinedChat, 2);
    expect(a1.of(ServerEvent.ReceiveMessage)).toHaveLength(0);
    for (const s of [a1, a2, b]) s.close();
  });

  it("stores a resent clientId once and acks it with the first id and timestamp", async () => {
    const chat = await group();
    const a = await connect(chat.id, ann.token);
    const b = await connect(chat.id, bob.token);
    a.sendJson(ClientEvent.SendMessage, { content: "once", clientId: "dup" });
    a.sendJson(ClientEvent.SendMessage, { content: "once", clientId: "dup" });
    await a.next(ServerEvent.MessageSent, 2);
    const [first, second] = a.of(ServerEvent.MessageSent);
    expect(second).toEqual(first);
    // Another socket of the same user, later, after a reconnect.
    a.close();
    const again = await connect(chat.id, ann.token);
    again.sendJson(ClientEvent.SendMessage, { content: "once", clientId: "dup" });
    expect(await again.next(ServerEvent.MessageSent)).toEqual(first);
    // Over HTTP too.
    const http = await api("POST", `/api/chats/${chat.id}/messages`, { token: ann.token, body: { content: "once", clientId: "dup" } });
    expect(http.status).toBe(201);
    expect(http.body.id).toBe(first!.messageId);
    // The same clientId from another user is another message.
    const fromBob = await api("POST", `/api/chats/${chat.id}/messages`, { token: bob.token, body: { content: "mine", clientId: "dup" } });
    expect(fromBob.status).toBe(201);
    expect(fromBob.body.id).not.toBe(first!.messageId);
    const history = await api("GET", `/api/chats/${chat.id}/messages`, { token: ann.token });
    expect(history.body.messages.map((m: { content: string }) => m.content)).toEqual(["once", "mine"]);
    // Bob's socket saw "once" a single time (and his own HTTP post, as every socket does).
    await b.until((s) => s.of(ServerEvent.ReceiveMessage).length === 2, "deliveries");
    const last = await api("POST", `/api/chats/${chat.id}/messages`, { token: bob.token, body: { content: "last" } });
    await b.until((s) => s.of(ServerEvent.ReceiveMessage).some((m) => m.id === last.body.id), "a later message");
    expect(b.of(ServerEvent.ReceiveMessage).map((m) => m.content)).toEqual(["once", "mine", "last"]);
    again.close();
    b.close();
  });

  it("orders two concurrent senders and HTTP posts identically for every receiver", async () => {
    const chat = await group();
    const a = await connect(chat.id, ann.token);
    const b = await connect(chat.id, bob.token);
    const receivers = [await connect(chat.id, cid.token), await connect(chat.id, cid.token), await connect(chat.id, ann.token)];
    const perSender = 15;
    for (let i = 0; i < perSender; i++) {
      a.sendJson(ClientEvent.SendMessage, { content: `a${i}`, clientId: `a${i}` });
      b.sendJson(ClientEvent.SendMessage, { content: `b${i}`, clientId: `b${i}` });
    }
    const posts = Array.from({ length: 4 }, (_, i) =>
      api("POST", `/api/chats/${chat.id}/messages`, { token: cid.token, body: { content: `h${i}` } }),
    );
    expect((await Promise.all(posts)).map((r) => r.status)).toEqual([201, 201, 201, 201]);
    const total = perSender * 2 + 4;
    for (const r of receivers.slice(0, 2)) await r.until((s) => ids(s).length === total, "all messages");
    const order = ids(receivers[0]!);
    expect([...order].sort((x, y) => x - y)).toEqual(order);
    expect(new Set(order).size).toBe(total);
    expect(ids(receivers[1]!)).toEqual(order);
    // Ann's other socket gets everything except nothing: it is not the sending socket.
    await receivers[2]!.until((s) => ids(s).length === total, "all messages");
    expect(ids(receivers[2]!)).toEqual(order);
    // Each sender's own messages keep their send order.
    const history = await api("GET", `/api/chats/${chat.id}/messages?limit=100`, { token: ann.token });
    const contents: string[] = history.body.messages.map((m: { content: string }) => m.content);
    expect(contents.filter((c) => c.startsWith("a"))).toEqual(Array.from({ length: perSender }, (_, i) => `a${i}`));
    expect(history.body.messages.map((m: { id: number }) => m.id)).toEqual(order);
    for (const s of [a, b, ...receivers]) s.close();
  });

  it("delivers an HTTP post live to every socket", async () => {
    const chat = await group();
    const a = await connect(chat.id, ann.token);
    const posted = await api("POST", `/api/chats/${chat.id}/messages`, { token: ann.token, body: { content: "from http", clientId: "h1" } });
    expect(posted.status).toBe(201);
    expect(await a.next(ServerEvent.ReceiveMessage)).toEqual(posted.body);
    a.close();
  });

  it("replays what a client missed with since, before anything live, and never twice", async () => {
    const chat = await group();
    const sent: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await api("POST", `/api/chats/${chat.id}/messages`, { token: ann.token, body: { content: `m${i}` } });
      sent.push(r.body.id);
    }
    const b = await connect(chat.id, bob.token, `?since=${sent[1]}`);
    await b.until((s) => ids(s).length === 3, "replay");
    expect(ids(b)).toEqual(sent.slice(2));
    const live = await api("POST", `/api/chats/${chat.id}/messages`, { token: ann.token, body: { content: "live" } });
    await b.until((s) => ids(s).length === 4, "live");
    expect(ids(b)).toEqual([...sent.slice(2), live.body.id]);
    // joined_chat comes first.
    expect(b.frames[0]).toMatchObject({ event: ServerEvent.JoinedChat });
    b.close();
    // since=0: everything from the first message (a client whose history was empty).
    const fromStart = await connect(chat.id, bob.token, "?since=0");
    await fromStart.until((s) => ids(s).length === 6, "full replay");
    expect(ids(fromStart)).toEqual([...sent, live.body.id]);
    fromStart.close();
    for (const since of ["abc", "-1", "1.5"]) {
      const bad = await SELF.fetch(`${BASE}/api/chats/${chat.id}/ws?since=${since}`, { headers: { Upgrade: "websocket", Authorization: `Bearer ${bob.token}` } });
      expect(bad.status).toBe(400);
    }
  });

  it("refuses sends over the rate limit with rate_limited and stores none of them", async () => {
    const chat = await group();
    const a = await connect(chat.id, ann.token);
    const attempts = 30;
    for (let i = 0; i < attempts; i++) a.sendJson(ClientEvent.SendMessage, { content: `r${i}`, clientId: `r${i}` });
    await a.until((s) => s.of(ServerEvent.MessageSent).length + s.of(ServerEvent.Error).length === attempts, "all answers");
    const accepted = a.of(ServerEvent.MessageSent).length;
    const limited = a.of(ServerEvent.Error);
    expect(accepted).toBeGreaterThanOrEqual(20);
    expect(accepted).toBeLessThan(attempts);
    expect(limited.every((e) => e.code === ErrorCode.RateLimited && e.event === ClientEvent.SendMessage)).toBe(true);
    const history = await api("GET", `/api/chats/${chat.id}/messages?limit=100`, { token: ann.token });
    expect(history.body.messages).toHaveLength(accepted);
    const refusedIds = new Set(limited.map((e) => e.clientId));
    expect(history.body.messages.some((m: { content: string }) => refusedIds.has(m.content))).toBe(false);
    a.close();
  });
});

describe("bad frames", () => {
  it("answers every bad frame with error and keeps the socket open", async () => {
    const chat = await group();
    const a = await connect(chat.id, ann.token);
    const bad = [
      "not json",
      JSON.stringify({ event: "dance", data: {} }),
      JSON.stringify({ event: ClientEvent.SendMessage, data: { content: 42 } }),
      JSON.stringify({ event: ClientEvent.SendMessage, data: { content: "   ", clientId: "blank" } }),
      JSON.stringify({ event: ClientEvent.SendMessage, data: { content: "x".repeat(limits.contentMax + 1) } }),
      JSON.stringify({ event: ClientEvent.SendMessage, data: { content: "ok", clientId: "" } }),
      JSON.stringify({ event: ClientEvent.JoinChat, data: { chatId: -1 } }),
    ];
    for (const frame of bad) a.ws.send(frame);
    a.ws.send(new Uint8Array([1, 2, 3]));
    await a.until((s) => s.of(ServerEvent.Error).length === bad.length + 1, "errors");
    const errors = a.of(ServerEvent.Error);
    expect(errors.every((e) => e.code === ErrorCode.BadRequest)).toBe(true);
    expect(errors[1]).toMatchObject({ event: "dance" });
    expect(errors[3]).toMatchObject({ event: ClientEvent.SendMessage, clientId: "blank" });
    a.sendJson(ClientEvent.SendMessage, { content: "after all that" });
    await a.next(ServerEvent.MessageSent);
    expect(a.closed).toBeNull();
    a.close();
  });

  it("closes with 1009 on a frame over 64 KiB", async () => {
    const chat = await group();
    const a = await connect(chat.id, ann.token);
    a.ws.send(JSON.stringify({ event: ClientEvent.SendMessage, data: { content: "x".repeat(limits.maxBodyBytes) } }));
    await a.until((s) => s.closed !== null, "close");
    expect(a.closed!.code).toBe(CloseCode.MessageTooBig);
  });
});

describe("typing", () => {
  it("tells other users only, and ends once on stop, on send and on disconnect", async () => {
    const chat = await group();
    const a1 = await connect(chat.id, ann.token);
    const a2 = await connect(chat.id, ann.token);
    const b = await connect(chat.id, bob.token);
    a1.sendJson(ClientEvent.TypingStart, { chatId: chat.id });
    expect(await b.next(ServerEvent.UserTyping)).toEqual({ chatId: chat.id, user: ann.user });
    a1.sendJson(ClientEvent.TypingStop, {});
    expect(await b.next(ServerEvent.UserStoppedTyping)).toEqual({ chatId: chat.id, user: ann.user });
    a1.sendJson(ClientEvent.TypingStop, {});
    // Send ends typing.
    a1.sendJson(ClientEvent.TypingStart, {});
    await b.next(ServerEvent.UserTyping, 2);
    a1.sendJson(ClientEvent.SendMessage, { content: "done typing" });
    await b.next(ServerEvent.UserStoppedTyping, 2);
    // Disconnect ends typing (the user's last socket).
    b.sendJson(ClientEvent.TypingStart, {});
    await a1.next(ServerEvent.UserTyping);
    b.close();
    expect(await a1.next(ServerEvent.UserStoppedTyping)).toEqual({ chatId: chat.id, user: bob.user });
    // a1 and a2 hear a later event after anything sent before it.
    a1.sendJson(ClientEvent.SendMessage, { content: "later", clientId: "later" });
    await a2.next(ServerEvent.ReceiveMessage, 2);
    await a1.until((s) => s.of(ServerEvent.MessageSent).some((m) => m.clientId === "later"), "the later ack");
    expect(b.of(ServerEvent.UserStoppedTyping)).toHaveLength(2);
    expect(a1.of(ServerEvent.UserTyping)).toHaveLength(1);
    expect(a2.of(ServerEvent.UserTyping)).toHaveLength(1);
    a1.close();
    a2.close();
  });

  it("expires 6 s after the last typing_start, also when the room hibernated meanwhile", async () => {
    const chat = await group();
    const a = await connect(chat.id, ann.token);
    const b = await connect(chat.id, bob.token);
    a.sendJson(ClientEvent.TypingStart, {});
    await b.next(ServerEvent.UserTyping);
    const started = Date.now();
    await evictDurableObject(roomStub(chat.id), { webSockets: "hibernate" });
    const stopped = await (async () => {
      await b.until((s) => s.of(ServerEvent.UserStoppedTyping).length === 1, "expiry", 10_000);
      return Date.now();
    })();
    expect(stopped - started).toBeGreaterThanOrEqual(limits.typingTimeoutMs - 200);
    expect(b.of(ServerEvent.UserStoppedTyping)).toEqual([{ chatId: chat.id, user: ann.user }]);
    a.close();
    b.close();
  });
});

describe("hibernation", () => {
  it("keeps sockets, presence and delivery across an eviction", async () => {
    const chat = await group();
    const a = await connect(chat.id, ann.token);
    const b = await connect(chat.id, bob.token);
    await evictDurableObject(roomStub(chat.id), { webSockets: "hibernate" });
    a.sendJson(ClientEvent.JoinChat, { chatId: chat.id });
    const joined = await a.next(ServerEvent.JoinedChat, 2);
    expect(joined.online.map((u) => u.id).sort()).toEqual([ann.user.id, bob.user.id].sort());
    a.sendJson(ClientEvent.SendMessage, { content: "after sleep", clientId: "z1" });
    const ack = await a.next(ServerEvent.MessageSent);
    expect((await b.next(ServerEvent.ReceiveMessage)).id).toBe(ack.messageId);
    b.close();
    expect(await a.next(ServerEvent.UserOffline)).toEqual({ chatId: chat.id, user: bob.user });
    a.close();
  });
});

describe("membership reaches the room", () => {
  it("announces renames, additions and role changes", async () => {
    const chat = await group();
    const a = await connect(chat.id, ann.token);
    await api("PATCH", `/api/chats/${chat.id}`, { token: ann.token, body: { name: "Renamed" } });
    expect(await a.next(ServerEvent.ChatUpdated)).toEqual({ chatId: chat.id, name: "Renamed", slowModeSeconds: 0, retentionSeconds: null });
    await api("POST", `/api/chats/${chat.id}/members`, { token: ann.token, body: { userId: dan.user.id } });
    expect(await a.next(ServerEvent.MemberAdded)).toEqual({ chatId: chat.id, user: dan.user, role: "member" });
    // The new member can connect and send at once.
    const d = await connect(chat.id, dan.token);
    d.sendJson(ClientEvent.SendMessage, { content: "hi all" });
    await d.next(ServerEvent.MessageSent);
    await api("PATCH", `/api/chats/${chat.id}/members/${dan.user.id}`, { token: ann.token, body: { role: "admin" } });
    expect(await a.next(ServerEvent.MemberUpdated)).toEqual({ chatId: chat.id, user: dan.user, role: "admin" });
    a.close();
    d.close();
  });

  it("announces a removed member offline with the removal, not a grace later, and only once", async () => {
    const chat = await group();
    const a = await connect(chat.id, ann.token);
    const b = await connect(chat.id, bob.token);
    await a.next(ServerEvent.UserOnline);
    // Every grace is held for good: an offline that waited for one would never come.
    await runInDurableObject(roomStub(chat.id), (room: ChatRoom) => {
      (room as unknown as { presence: Presence }).presence.clock = { set: () => 0, clear: () => {}, now: () => 0 };
    });
    expect((await api("DELETE", `/api/chats/${chat.id}/members/${bob.user.id}`, { token: ann.token })).status).toBe(204);
    expect(await a.next(ServerEvent.MemberRemoved)).toEqual({ chatId: chat.id, user: bob.user });
    expect(await a.next(ServerEvent.UserOffline)).toEqual({ chatId: chat.id, user: bob.user });
    await b.until((s) => s.closed !== null, "close");
    a.sendJson(ClientEvent.JoinChat, { chatId: chat.id });
    expect((await a.next(ServerEvent.JoinedChat, 2)).online).toEqual([ann.user]);
    // Bob's close, once it came, announced nothing more.
    expect(a.of(ServerEvent.UserOffline)).toHaveLength(1);
    a.close();
  });

  it("closes a removed member's sockets with 4003 and refuses them from then on", async () => {
    const chat = await group();
    const a = await connect(chat.id, ann.token);
    const b1 = await connect(chat.id, bob.token);
    const b2 = await connect(chat.id, bob.token);
    const res = await api("DELETE", `/api/chats/${chat.id}/members/${bob.user.id}`, { token: ann.token });
    expect(res.status).toBe(204);
    expect(await a.next(ServerEvent.MemberRemoved)).toEqual({ chatId: chat.id, user: bob.user });
    for (const b of [b1, b2]) {
      await b.until((s) => s.closed !== null, "close");
      expect(b.closed!.code).toBe(CloseCode.Removed);
    }
    const again = await SELF.fetch(`${BASE}/api/chats/${chat.id}/ws`, { headers: { Upgrade: "websocket", Authorization: `Bearer ${bob.token}` } });
    expect(again.status).toBe(403);
    const post = await api("POST", `/api/chats/${chat.id}/messages`, { token: bob.token, body: { content: "let me in" } });
    expect(post.status).toBe(403);
    a.close();
  });
});

describe("typing costs no storage write per keystroke", () => {
  it("keeps typing on the sockets: no kv write, at most one alarm write per typing state", async () => {
    const chat = await group();
    const a = await connect(chat.id, ann.token);
    const b = await connect(chat.id, bob.token);
    const counts = { kv: 0, alarm: 0 };
    // The spies live in the room's isolate, which is the test's (one isolate locally).
    await runInDurableObject(roomStub(chat.id), (room: ChatRoom) => {
      const storage = (room as unknown as { ctx: DurableObjectState }).ctx.storage;
      const put = storage.kv.put.bind(storage.kv);
      storage.kv.put = ((...args: Parameters<typeof put>) => (counts.kv++, put(...args))) as typeof put;
      const setAlarm = storage.setAlarm.bind(storage);
      storage.setAlarm = ((...args: Parameters<typeof setAlarm>) => (counts.alarm++, setAlarm(...args))) as typeof setAlarm;
    });
    for (let i = 0; i < 10; i++) a.sendJson(ClientEvent.TypingStart, {});
    await b.next(ServerEvent.UserTyping, 10);
    a.sendJson(ClientEvent.TypingStop, {});
    await b.next(ServerEvent.UserStoppedTyping);
    expect(counts.kv).toBe(0);
    expect(counts.alarm).toBe(1);
    a.close();
    b.close();
  });
});
