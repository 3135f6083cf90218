/**
 * The room's own log: acks come from the room's storage, D1 is filled behind exactly once, an
 * outage of D1 does not stop the chat, and a chat from before the log is imported on first wake.
 */
import { env, evictDurableObject, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { withDeadline } from "../../src/db/deadline";
import { MAX_STATEMENT_JSON_BYTES, roomCopier } from "../../src/db/room-copy";
import { createApp } from "../../src/http/app";
import { ErrorCode } from "../../src/protocol/errors";
import { ClientEvent, InboxEvent, ServerEvent } from "../../src/protocol/events";
import type { Message } from "../../src/protocol/models";
import type { ChatRoom } from "../../src/room/chat-room";
import { MessageLog as MessageLogClass, type MessageLog } from "../../src/room/log/messages";
import { limits } from "../../src/protocol/limits";
import { COPY_BATCH } from "../../src/room/copy-schedule";
import { MetaKey, writeMeta, type LogDatabase } from "../../src/room/log/open";
import { api, BASE, connect, copyToD1Now, countingWrites, createGroup, register, roomStub, seedLegacyMessages, seedMessages, TestSocket, brokenD1, d1Copy, connectInbox, twoInAChat, type TestUser } from "./helpers";

afterEach(() => vi.restoreAllMocks());

interface RoomInternals {
  d1: D1Database;
  store: LogDatabase;
  d1Copy: { failures: number; at: number | null; run(): Promise<void> };
}
const internals = (room: ChatRoom) => room as unknown as RoomInternals;


async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, timeoutMs = 8000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value).slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("the room's log", () => {
  it("acks before D1 has the message, and the alarm copies it to D1 once, about a second later", async () => {
    const { chat, a, b } = await twoInAChat("log", "copy");
    for (let i = 0; i < 3; i++) a.sendJson(ClientEvent.SendMessage, { content: `hello ${i}`, clientId: `c${i}` });
    await a.next(ServerEvent.MessageSent, 3);
    await b.next(ServerEvent.ReceiveMessage, 3);
    expect(a.of(ServerEvent.MessageSent).map((m) => m.messageId)).toEqual([1, 2, 3]);
    // Acknowledged and delivered while D1 has none of them yet: the ack path does not wait for D1.
    expect((await d1Copy(chat.id)).rows).toHaveLength(0);
    const copied = await waitFor(() => d1Copy(chat.id), (c) => c.rows.length === 3, "the alarm's copy");
    expect(copied.d).toBe(3);
    expect(copied.rows.map((r) => r.content)).toEqual(["hello 0", "hello 1", "hello 2"]);
    a.close();
    b.close();
  });

  it("copies a chat that keeps going in one batch once it pauses, not once a second", async () => {
    const { chat, a, b } = await twoInAChat("steady", "stream");
    // A room learns who has an inbox open with its first copy, which therefore does not wait for a pause.
    a.sendJson(ClientEvent.SendMessage, { content: "first", clientId: "s-first" });
    await a.next(ServerEvent.MessageSent);
    expect(await copyToD1Now(chat.id)).toBe(true);
    const batches = await runInDurableObject(roomStub(chat.id), (room: ChatRoom) => {
      const counting = countingWrites(withDeadline(env.DB, 5000));
      internals(room).d1 = counting.d1;
      return counting.statements;
    });
    // 13 messages over 2.4 s: never a second without one.
    for (let i = 0; i < 13; i++) {
      a.sendJson(ClientEvent.SendMessage, { content: `steady ${i}`, clientId: `s${i}` });
      await new Promise((r) => setTimeout(r, 200));
    }
    await a.next(ServerEvent.MessageSent, 14);
    const copied = await waitFor(() => d1Copy(chat.id), (c) => c.rows.length === 14, "the copy after the pause");
    expect(copied.d).toBe(14);
    const outcome = await runInDurableObject(roomStub(chat.id), (room: ChatRoom) => ({ batches: [...batches], copyAt: internals(room).d1Copy.at }));
    expect(outcome.batches).toHaveLength(1);
    expect(outcome.copyAt).toBeNull();
    a.close();
    b.close();
  });

  it("a woken room learns who has an inbox open within about a second of a stream's start, without waiting for a pause", async () => {
    const { bob, chat, a, b } = await twoInAChat("woken", "listener");
    const inbox = await connectInbox(bob.token);
    await evictDurableObject(roomStub(chat.id));
    const started = Date.now();
    let heard: number | null = null;
    void inbox.next(InboxEvent.ChatActivity).then(() => (heard = Date.now()));
    for (let i = 0; i < 13 && heard === null; i++) {
      a.sendJson(ClientEvent.SendMessage, { content: `live ${i}`, clientId: `l${i}` });
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(heard).not.toBeNull();
    expect(heard! - started).toBeLessThan(2400);
    for (const s of [a, b, inbox]) s.close();
  });

  it("resumes its outbox after an eviction: the alarm survives and the copy happens on wake", async () => {
    const [ann, bob] = await Promise.all([register("evict"), register("wake")]);
    const chat = await createGroup(ann, [bob]);
    for (let i = 0; i < 5; i++) {
      expect((await api("POST", `/api/chats/${chat.id}/messages`, { token: ann.token, body: { content: `m${i}` } })).status).toBe(201);
    }
    await evictDurableObject(roomStub(chat.id));
    const copied = await waitFor(() => d1Copy(chat.id), (c) => c.rows.length === 5, "the copy after eviction");
    expect(copied.d).toBe(5);
    // The sender's own messages moved her marker in memory only; the woken room rebuilt that from
    // its outbox, and the copy carried it to D1.
    const annView = await waitFor(() => api("GET", `/api/chats/${chat.id}`, { token: ann.token }), (r) => r.body.lastReadMessageId === 5, "ann's marker in D1");
    expect(annView.body.unreadCount).toBe(0);
  });

  it("copies long histories in statements under D1's limits, and a repeated copy adds nothing", async () => {
    const [ann, bob] = await Promise.all([register("big"), register("batch")]);
    const chat = await createGroup(ann, [bob]);
    const ids = await seedMessages(chat.id, [ann, bob], 1200);
    // Long multi-byte contents: 1,200 × ~9 KB is far over 100 KB, so the copy must split.
    await runInDurableObject(roomStub(chat.id), (room: ChatRoom) => {
      internals(room).store.run(`UPDATE messages SET content = content || ' ' || '${"é€".repeat(1500)}'` as never);
    });
    const bound: unknown[][] = [];
    const proto = Object.getPrototypeOf(env.DB.prepare("SELECT 1")) as D1PreparedStatement;
    const realBind = proto.bind;
    vi.spyOn(proto, "bind").mockImplementation(function (this: D1PreparedStatement, ...values: unknown[]) {
      bound.push(values);
      return realBind.apply(this, values);
    });
    expect(await copyToD1Now(chat.id)).toBe(true);
    vi.restoreAllMocks();
    expect(bound.length).toBeGreaterThan(0);
    for (const values of bound) {
      expect(values.length).toBeLessThanOrEqual(100);
      for (const v of values) if (typeof v === "string") expect(new TextEncoder().encode(v).length).toBeLessThanOrEqual(MAX_STATEMENT_JSON_BYTES);
    }
    const copied = await d1Copy(chat.id);
    expect(copied.rows.map((r) => r.id)).toEqual(ids);
    expect(copied.d).toBe(1200);

    // As if the room crashed after D1 committed but before it recorded the copy: the retry adds nothing.
    await runInDurableObject(roomStub(chat.id), (room: ChatRoom) => writeMeta(internals(room).store, MetaKey.D1Through, 0));
    expect(await copyToD1Now(chat.id)).toBe(true);
    expect((await d1Copy(chat.id)).rows).toHaveLength(1200);
  });

  it("copies an outbox longer than a batch back to back while the chat is still busy, not after it pauses", async () => {
    const [ann, bob] = await Promise.all([register("long"), register("outbox")]);
    const chat = await createGroup(ann, [bob]);
    await seedMessages(chat.id, [ann, bob], 2 * COPY_BATCH + 10);
    const inD1 = async () => (await env.DB.prepare("SELECT count(*) AS n FROM messages WHERE chat_id = ?").bind(chat.id).first<{ n: number }>())!.n;
    await runInDurableObject(roomStub(chat.id), async (room: ChatRoom, state) => {
      // The test is the alarm: the room's own must not look in between.
      await state.storage.deleteAlarm();
      const copy = internals(room).d1Copy as RoomInternals["d1Copy"] & { request(message?: boolean): void; onAlarm(): Promise<void> };
      copy.request(true); // the chat is busy: its last change is now
      await copy.run();
      expect(await inD1()).toBe(COPY_BATCH);
      // The alarm's next look, still within a second of the last change: the rest of the batch goes now.
      copy.request(true);
      await copy.onAlarm();
      expect(await inD1()).toBe(2 * COPY_BATCH);
    });
  });
});

describe("D1 down is not chat down", () => {
  it("keeps sending, acking, delivering, paging and replaying; D1 ends with every message once when it returns", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { bob, chat, a, b } = await twoInAChat("outage", "still");
    a.sendJson(ClientEvent.SendMessage, { content: "before", clientId: "k0" });
    await b.next(ServerEvent.ReceiveMessage);
    await copyToD1Now(chat.id);

    await runInDurableObject(roomStub(chat.id), (room: ChatRoom) => void (internals(room).d1 = withDeadline(brokenD1("fail"), 100)));
    for (let i = 1; i <= 15; i++) a.sendJson(ClientEvent.SendMessage, { content: `during ${i}`, clientId: `k${i}` });
    await a.next(ServerEvent.MessageSent, 16);
    await b.next(ServerEvent.ReceiveMessage, 16);
    const http = await api("POST", `/api/chats/${chat.id}/messages`, { token: bob.token, body: { content: "over http", clientId: "h1" } });
    expect(http.status).toBe(201);
    const history = await api("GET", `/api/chats/${chat.id}/messages?limit=100`, { token: bob.token });
    expect(history.body.messages.map((m: Message) => m.content)).toEqual(["before", ...Array.from({ length: 15 }, (_, i) => `during ${i + 1}`), "over http"]);

    // A reconnect with since replays from the room, also when the Worker cannot reach D1 either:
    // the token check uses the version it read before the outage.
    const res = await createApp().request(
      `${BASE}/api/chats/${chat.id}/ws?since=1`,
      { headers: { Upgrade: "websocket", Authorization: `Bearer ${bob.token}` } },
      { ...env, DB: brokenD1("fail"), D1_TIMEOUT_MS: "100" },
    );
    expect(res.status).toBe(101);
    res.webSocket!.accept();
    const replayed = new TestSocket(res.webSocket!);
    const done = await replayed.next(ServerEvent.ReplayDone);
    expect(done).toEqual({ chatId: chat.id, lastId: 17, hasMore: false, lastChangeId: 0, hasMoreChanges: false });
    expect(replayed.of(ServerEvent.ReceiveMessage).map((m) => m.id)).toEqual(Array.from({ length: 16 }, (_, i) => i + 2));

    // The copy fails and is retried with backoff; nothing is dropped.
    const during = await runInDurableObject(roomStub(chat.id), async (room: ChatRoom) => {
      await internals(room).d1Copy.run();
      await internals(room).d1Copy.run();
      return { failures: internals(room).d1Copy.failures, retryIn: internals(room).d1Copy.at! - Date.now() };
    });
    expect(during.failures).toBeGreaterThanOrEqual(2);
    expect(during.retryIn).toBeGreaterThan(1000);
    expect((await d1Copy(chat.id)).rows).toHaveLength(1);

    await runInDurableObject(roomStub(chat.id), (room: ChatRoom) => void (internals(room).d1 = withDeadline(env.DB, 5000)));
    expect(await copyToD1Now(chat.id)).toBe(true);
    const copied = await d1Copy(chat.id);
    expect(copied.rows.map((r) => r.id)).toEqual(Array.from({ length: 17 }, (_, i) => i + 1));
    expect(copied.d).toBe(17);
    for (const s of [a, b, replayed]) s.close();
  });

  it("a room that has not loaded its members yet answers 503 while D1 is unreachable, then recovers", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const [ann, bob] = await Promise.all([register("cold"), register("start")]);
    const chat = await createGroup(ann, [bob]);
    await runInDurableObject(roomStub(chat.id), (room: ChatRoom) => void (internals(room).d1 = withDeadline(brokenD1("fail"), 100)));
    const refused = await api("GET", `/api/chats/${chat.id}/messages`, { token: ann.token });
    expect(refused.status).toBe(503);
    expect(refused.body).toEqual({ error: expect.any(String), code: ErrorCode.Unavailable });
    await runInDurableObject(roomStub(chat.id), (room: ChatRoom) => void (internals(room).d1 = withDeadline(env.DB, 5000)));
    expect((await api("GET", `/api/chats/${chat.id}/messages`, { token: ann.token })).status).toBe(200);
  });
});

describe("upgrading from a database without room logs", () => {
  it("imports a long history in pages, each storage statement within Durable Object SQL's 100 bound parameters", async () => {
    const [ann, bob] = await Promise.all([register("long"), register("past")]);
    const chat = await createGroup(ann, [bob]);
    const old = await seedLegacyMessages(chat.id, [ann, bob], 1100, 1);
    const bindings: number[] = [];
    await runInDurableObject(roomStub(chat.id), (room: ChatRoom) => {
      const storage = (room as unknown as { ctx: DurableObjectState }).ctx.storage.sql;
      const exec = storage.exec.bind(storage);
      storage.exec = ((query: string, ...values: unknown[]) => (bindings.push(values.length), exec(query, ...values))) as typeof storage.exec;
    });
    const page = await api("GET", `/api/chats/${chat.id}/messages?after=0&limit=100`, { token: bob.token });
    expect(page.body.messages.map((m: Message) => m.id)).toEqual(old.slice(0, 100));
    expect(bindings.length).toBeGreaterThan(1100 / 16);
    expect(Math.max(...bindings)).toBeLessThanOrEqual(100);
    const b = await connect(chat.id, bob.token, `?since=${old[1049]}`);
    await b.next(ServerEvent.ReplayDone);
    expect(b.of(ServerEvent.ReceiveMessage).map((m) => m.id)).toEqual(old.slice(1050));
    b.close();
  });

  it("imports the chat's earlier messages on first wake, keeps their ids, and continues after them", async () => {
    const [ann, bob] = await Promise.all([register("legacy"), register("import")]);
    const chat = await createGroup(ann, [bob]);
    const old = await seedLegacyMessages(chat.id, [ann, bob], 5, 1000);
    // The chat list reads D1, which has them already.
    const listed = (await api("GET", `/api/chats/${chat.id}`, { token: bob.token })).body;
    expect(listed.lastMessage).toMatchObject({ id: old.at(-1), content: "old4" });

    const history = await api("GET", `/api/chats/${chat.id}/messages`, { token: bob.token });
    expect(history.body.messages.map((m: Message) => [m.id, m.content, m.sender.username])).toEqual(
      old.map((id, i) => [id, `old${i}`, (i % 2 === 0 ? ann : bob).user.username]),
    );
    const b = await connect(chat.id, bob.token, `?since=${old[1]}`);
    await b.next(ServerEvent.ReplayDone);
    expect(b.of(ServerEvent.ReceiveMessage).map((m) => m.id)).toEqual(old.slice(2));

    const fresh = await api("POST", `/api/chats/${chat.id}/messages`, { token: ann.token, body: { content: "new" } });
    expect(fresh.body.id).toBe(old.at(-1)! + 1);
    expect((await b.next(ServerEvent.ReceiveMessage, 4)).content).toBe("new");
    expect(await copyToD1Now(chat.id)).toBe(true);
    const copied = await d1Copy(chat.id);
    expect(copied.rows.map((r) => r.id)).toEqual([...old, old.at(-1)! + 1]);
    expect(copied.d).toBe(6);
    b.close();
  });
});

describe("read markers over the chat socket", () => {
  it("mark_read moves the marker, tells the reader's devices, refuses an unknown id, and reaches D1 with the next copy", async () => {
    const [ann, bob] = await Promise.all([register("mark"), register("reader")]);
    const chat = await createGroup(ann, [bob]);
    const b = await connect(chat.id, bob.token);
    const inbox = await connectInbox(bob.token);
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) ids.push((await api("POST", `/api/chats/${chat.id}/messages`, { token: ann.token, body: { content: `m${i}` } })).body.id);
    await b.next(ServerEvent.ReceiveMessage, 3);

    b.sendJson(ClientEvent.MarkRead, { messageId: ids[1] });
    expect(await inbox.next(InboxEvent.ChatRead)).toEqual({ chatId: chat.id, lastReadMessageId: ids[1], unreadCount: 1 });
    // Backwards changes nothing and says nothing; an id the chat does not have is an error, and the socket stays.
    b.sendJson(ClientEvent.MarkRead, { messageId: ids[0] });
    b.sendJson(ClientEvent.MarkRead, { messageId: 999_999 });
    expect(await b.next(ServerEvent.Error)).toMatchObject({ code: ErrorCode.BadRequest, event: ClientEvent.MarkRead });
    b.sendJson(ClientEvent.MarkRead, { messageId: ids[2] });
    expect(await inbox.next(InboxEvent.ChatRead, 2)).toEqual({ chatId: chat.id, lastReadMessageId: ids[2], unreadCount: 0 });
    expect(inbox.of(InboxEvent.ChatRead)).toHaveLength(2);

    expect(await copyToD1Now(chat.id)).toBe(true);
    const listed = await api("GET", `/api/chats/${chat.id}`, { token: bob.token });
    expect(listed.body).toMatchObject({ lastReadMessageId: ids[2], unreadCount: 0 });
    b.close();
    inbox.close();
  });
});

describe("read markers in D1", () => {
  it("move only forward, write a row only for a marker that moved, and any number fit (in statements under D1's limits)", async () => {
    const [ann, bob] = await Promise.all([register("fwd"), register("marker")]);
    const chat = await createGroup(ann, [bob]);
    const { d1, written, statements } = countingWrites(env.DB);
    const copy = roomCopier(d1, chat.id);
    const marker = (user: TestUser, lastRead: number) => ({ userId: user.user.id, lastRead });
    await copy([], [marker(bob, 5)]);
    await copy([], [marker(bob, 5), marker(ann, 3)]); // Bob's again (as after a restart); Ann's first
    await copy([], [marker(bob, 4)]); // behind D1's
    expect(written).toEqual([1, 1, 0]);

    const bound: unknown[][] = [];
    const proto = Object.getPrototypeOf(env.DB.prepare("SELECT 1")) as D1PreparedStatement;
    const realBind = proto.bind;
    vi.spyOn(proto, "bind").mockImplementation(function (this: D1PreparedStatement, ...values: unknown[]) {
      bound.push(values);
      return realBind.apply(this, values);
    });
    // A group's worth of markers (most for users who are not members, which D1 leaves alone).
    const many = Array.from({ length: 6000 }, (_, i) => ({ userId: 1_000_000_000 + i, lastRead: 1 }));
    await copy([], [...many, marker(bob, 9)]);
    vi.restoreAllMocks();
    expect(written.at(-1)).toBe(1);
    expect(statements.at(-1)).toBeGreaterThan(2);
    for (const values of bound) for (const v of values) if (typeof v === "string") expect(new TextEncoder().encode(v).length).toBeLessThanOrEqual(MAX_STATEMENT_JSON_BYTES);
    const { results } = await env.DB.prepare("SELECT user_id, last_read_message_id AS r FROM chat_members WHERE chat_id = ? ORDER BY user_id")
      .bind(chat.id)
      .all<{ user_id: number; r: number | null }>();
    expect(results).toEqual([
      { user_id: ann.user.id, r: 3 },
      { user_id: bob.user.id, r: 9 },
    ]);
  });
});

describe("a member who never read", () => {
  it("keeps no marker through a role change: their inbox hears activity but no chat_read", async () => {
    const [ann, bob] = await Promise.all([register("never"), register("promoted")]);
    const chat = await createGroup(ann, [bob]);
    await api("GET", `/api/chats/${chat.id}/messages`, { token: ann.token }); // the room loads its members
    expect((await api("PATCH", `/api/chats/${chat.id}/members/${bob.user.id}`, { token: ann.token, body: { role: "admin" } })).status).toBe(200);
    const inbox = await connectInbox(bob.token);
    await api("POST", `/api/chats/${chat.id}/messages`, { token: ann.token, body: { content: "one" } });
    expect(await copyToD1Now(chat.id)).toBe(true); // the room learns Bob's inbox is open and tells it
    expect(await inbox.next(InboxEvent.ChatActivity)).toMatchObject({ chatId: chat.id, unreadCount: 1 });
    await api("POST", `/api/chats/${chat.id}/messages`, { token: ann.token, body: { content: "two" } });
    expect(await inbox.next(InboxEvent.ChatActivity, 2)).toMatchObject({ chatId: chat.id, unreadCount: 2 });
    expect(inbox.of(InboxEvent.ChatRead)).toEqual([]);
    expect((await api("GET", `/api/chats/${chat.id}`, { token: bob.token })).body.lastReadMessageId).toBeNull();
    inbox.close();
  });
});

describe("idempotency without a storage index", () => {
  it("recognises a resend after the room was evicted, from the log, over the socket and over HTTP", async () => {
    const { ann, bob, chat, a, b } = await twoInAChat("evicted", "resend");
    a.sendJson(ClientEvent.SendMessage, { content: "once", clientId: "e1" });
    const first = await a.next(ServerEvent.MessageSent);
    await b.next(ServerEvent.ReceiveMessage);
    const posted = await api("POST", `/api/chats/${chat.id}/messages`, { token: bob.token, body: { content: "http once", clientId: "h1" } });
    expect(posted.status).toBe(201);
    a.close();
    b.close();
    await evictDurableObject(roomStub(chat.id));

    const a2 = await connect(chat.id, ann.token);
    a2.sendJson(ClientEvent.SendMessage, { content: "once", clientId: "e1" });
    expect(await a2.next(ServerEvent.MessageSent)).toMatchObject({ messageId: first.messageId, clientId: "e1" });
    const again = await api("POST", `/api/chats/${chat.id}/messages`, { token: bob.token, body: { content: "http once", clientId: "h1" } });
    expect(again.status).toBe(201);
    expect(again.body.id).toBe(posted.body.id);
    // The same clientId from another sender is another message.
    a2.sendJson(ClientEvent.SendMessage, { content: "ann's h1", clientId: "h1" });
    expect((await a2.next(ServerEvent.MessageSent, 2)).messageId).toBe(posted.body.id + 1);

    const history = await api("GET", `/api/chats/${chat.id}/messages`, { token: ann.token });
    expect(history.body.messages.map((m: Message) => m.content)).toEqual(["once", "http once", "ann's h1"]);
    a2.close();
  });

  it("stores a clientId again once its first message is older than the 24-hour window (the contract's bound)", async () => {
    const { ann, chat, a, b } = await twoInAChat("window", "edge");
    const dayAndAHour = 25 * 60 * 60 * 1000;
    await runInDurableObject(roomStub(chat.id), (room: ChatRoom) => {
      const log = (room as unknown as { log: MessageLog }).log;
      log.append({ sender: ann.user, content: "yesterday", clientId: "old", createdAt: Date.now() - dayAndAHour });
      log.append({ sender: ann.user, content: "today", clientId: "new", createdAt: Date.now() - 60_000 });
    });
    await evictDurableObject(roomStub(chat.id));
    const a2 = await connect(chat.id, ann.token);
    a2.sendJson(ClientEvent.SendMessage, { content: "today", clientId: "new" });
    expect((await a2.next(ServerEvent.MessageSent)).messageId).toBe(2);
    a2.sendJson(ClientEvent.SendMessage, { content: "yesterday", clientId: "old" });
    expect((await a2.next(ServerEvent.MessageSent, 2)).messageId).toBe(3);
    for (const s of [a, b, a2]) s.close();
  });

  it("recognises a resend within 24 hours however many messages came after it (20,000 and more: the window is by time only)", async () => {
    const { ann, bob, chat, a, b } = await twoInAChat("busy", "day");
    a.sendJson(ClientEvent.SendMessage, { content: "first", clientId: "early" });
    const first = await a.next(ServerEvent.MessageSent);
    // More newer messages than the room keeps clientIds of in memory (20,000), stored as sends store them.
    await runInDurableObject(roomStub(chat.id), (room: ChatRoom) => {
      const log = (room as unknown as { log: MessageLog }).log;
      const now = Date.now();
      for (let i = 0; i < limits.clientIdWindowMessages + 10; i++) log.append({ sender: i % 2 ? ann.user : bob.user, content: `busy ${i}`, clientId: `busy${i}`, createdAt: now });
    });
    a.sendJson(ClientEvent.SendMessage, { content: "first", clientId: "early" });
    expect(await a.next(ServerEvent.MessageSent, 2)).toMatchObject({ messageId: first.messageId, clientId: "early" });
    const http = await api("POST", `/api/chats/${chat.id}/messages`, { token: ann.token, body: { content: "first", clientId: "early" } });
    expect(http.status).toBe(201);
    expect(http.body.id).toBe(first.messageId);
    // And after the room restarts (its memory read again from the log).
    await evictDurableObject(roomStub(chat.id));
    const a2 = await connect(chat.id, ann.token);
    a2.sendJson(ClientEvent.SendMessage, { content: "first", clientId: "early" });
    expect(await a2.next(ServerEvent.MessageSent)).toMatchObject({ messageId: first.messageId, clientId: "early" });
    a2.sendJson(ClientEvent.SendMessage, { content: "new", clientId: "later" });
    expect((await a2.next(ServerEvent.MessageSent, 2)).messageId).toBe(first.messageId + limits.clientIdWindowMessages + 11);
    for (const s of [a, b, a2]) s.close();
  });

  it("a room with its memory cap lowered finds a resend beyond the cap in storage, not beyond 24 hours", async () => {
    const { ann, chat, a, b } = await twoInAChat("small", "cap");
    await runInDurableObject(roomStub(chat.id), (room: ChatRoom) => {
      const internals = room as unknown as { log: MessageLog; store: LogDatabase; writer: { room: { log: MessageLog } } };
      internals.log = new MessageLogClass(internals.store, chat.id, { clientIdsInMemory: 5 });
      // The send path (message-writer.ts) reads the log it was given: it gets this one too.
      internals.writer.room.log = internals.log;
      const now = Date.now();
      internals.log.append({ sender: ann.user, content: "yesterday", clientId: "old", createdAt: now - 25 * 60 * 60 * 1000 });
      internals.log.append({ sender: ann.user, content: "this morning", clientId: "morning", createdAt: now - 10 * 60 * 60 * 1000 });
      for (let i = 0; i < 20; i++) internals.log.append({ sender: ann.user, content: `since ${i}`, clientId: `since${i}`, createdAt: now - 60_000 });
      expect(internals.log.byClient(ann.user.id, "morning", Date.now())?.id).toBe(2);
      expect(internals.log.byClient(ann.user.id, "since0", Date.now())?.id).toBe(3);
      expect(internals.log.byClient(ann.user.id, "old", Date.now())).toBeUndefined();
      // Memory held 5 of them; the others were found in storage.
      expect((internals.log as unknown as { clientIds: { size: number } }).clientIds.size).toBeLessThanOrEqual(5);
    });
    a.sendJson(ClientEvent.SendMessage, { content: "this morning", clientId: "morning" });
    expect((await a.next(ServerEvent.MessageSent)).messageId).toBe(2);
    a.sendJson(ClientEvent.SendMessage, { content: "yesterday", clientId: "old" });
    expect((await a.next(ServerEvent.MessageSent, 2)).messageId).toBe(23);
    a.close();
    b.close();
  });

  it("answers a resend with its first message even when the message it replied to was deleted since", async () => {
    const { ann, bob, chat, a, b } = await twoInAChat("reply", "deleted");
    b.sendJson(ClientEvent.SendMessage, { content: "original", clientId: "o1" });
    const original = await b.next(ServerEvent.MessageSent);
    a.sendJson(ClientEvent.SendMessage, { content: "answer", clientId: "r1", replyToId: original.messageId });
    const answer = await a.next(ServerEvent.MessageSent);
    const deleted = await api("DELETE", `/api/chats/${chat.id}/messages/${original.messageId}`, { token: bob.token });
    expect(deleted.status).toBe(204);

    a.sendJson(ClientEvent.SendMessage, { content: "answer", clientId: "r1", replyToId: original.messageId });
    expect(await a.next(ServerEvent.MessageSent, 2)).toMatchObject({ messageId: answer.messageId, clientId: "r1" });
    const http = await api("POST", `/api/chats/${chat.id}/messages`, { token: ann.token, body: { content: "answer", clientId: "r1", replyToId: original.messageId } });
    expect(http.status).toBe(201);
    expect(http.body.id).toBe(answer.messageId);
    // A new message replying to it is still refused.
    a.sendJson(ClientEvent.SendMessage, { content: "late answer", clientId: "r2", replyToId: original.messageId });
    expect(await a.next(ServerEvent.Error)).toMatchObject({ code: ErrorCode.Gone, clientId: "r2" });
    a.close();
    b.close();
  });
});

describe("reply previews in pages", () => {
  it("a history page, a replay and a changes page read each reply's original in the same statement, a deleted one's excerpt empty", async () => {
    const { ann, bob, chat, a, b } = await twoInAChat("preview", "joined");
    const long = "x".repeat(150);
    const seen = await runInDurableObject(roomStub(chat.id), (room: ChatRoom) => {
      const log = (room as unknown as { log: MessageLog }).log;
      const at = Date.now();
      const kept = log.append({ sender: ann.user, content: long, createdAt: at }).id;
      const gone = log.append({ sender: bob.user, content: "soon gone", createdAt: at + 1 }).id;
      log.append({ sender: bob.user, content: "to the long one", replyToId: kept, createdAt: at + 2 });
      const toGone = log.append({ sender: ann.user, content: "to the gone one", replyToId: gone, createdAt: at + 3 }).id;
      log.append({ sender: ann.user, content: "no reply", createdAt: at + 4 });
      log.remove(gone, at + 5);
      log.edit(toGone, "to the gone one, edited", at + 6);
      const byId = vi.spyOn((log as unknown as { q: { byId: { get: (p: { id: number }) => unknown } } }).q.byId, "get");
      const page = log.page({ limit: 50 });
      const fromStart = log.page({ after: 0, limit: 50 });
      const changes = log.changesAfter(0, log.newestId(), 50);
      const lookups = byId.mock.calls.length;
      byId.mockRestore();
      // The single-message path (acks, changes over the socket) looks the original up itself: the reference.
      const single = page.messages.map((m) => log.toMessage(log.get(m.id)!));
      return { page, fromStart, changes, lookups, single };
    });
    expect(seen.lookups).toBe(0);
    expect(seen.page.messages.map((m) => m.replyTo)).toEqual([
      null,
      null,
      { id: 1, sender: { id: ann.user.id, username: ann.user.username }, excerpt: "x".repeat(100) },
      { id: 2, sender: { id: bob.user.id, username: bob.user.username }, excerpt: "" },
      null,
    ]);
    expect(seen.page.messages).toEqual(seen.single);
    expect(seen.fromStart.messages).toEqual(seen.single);
    expect(seen.changes.messages.map((m) => [m.id, m.replyTo])).toEqual([
      [2, null],
      [4, { id: 2, sender: { id: bob.user.id, username: bob.user.username }, excerpt: "" }],
    ]);
    // Over HTTP and in a socket's replay, the same previews.
    const history = await api("GET", `/api/chats/${chat.id}/messages`, { token: ann.token });
    expect(history.body.messages).toEqual(seen.single);
    const replayed = await connect(chat.id, bob.token, "?since=0");
    await replayed.next(ServerEvent.ReplayDone);
    expect(replayed.of(ServerEvent.ReceiveMessage)).toEqual(seen.single);
    for (const s of [a, b, replayed]) s.close();
  });
});

describe("query plans", () => {
  it("reads the newest change id from the partial change index and each reply's original by its key, without scanning the log", async () => {
    const { chat, a, b } = await twoInAChat("plan", "reader");
    const plans = await runInDurableObject(roomStub(chat.id), (room: ChatRoom, state) => {
      const q = (room as unknown as { log: { q: Record<string, { getQuery(): { sql: string } }> } }).log.q;
      const plan = (name: string) =>
        state.storage.sql
          .exec(`EXPLAIN QUERY PLAN ${q[name]!.getQuery().sql}`, ...q[name]!.getQuery().sql.split("?").slice(1).map(() => 1))
          .toArray()
          .map((r) => String(r.detail));
      return { lastChangeId: plan("lastChangeId"), newest: plan("newest") };
    });
    expect(plans.lastChangeId.join("\n")).toMatch(/USING COVERING INDEX messages_change_id/);
    expect(plans.newest.join("\n")).toMatch(/SEARCH originals USING INTEGER PRIMARY KEY/);
    // The newest page walks the log backwards by its key and stops at the limit: that is no scan of the whole log.
    expect(plans.lastChangeId).not.toContain("SCAN messages");
    expect(plans.newest).not.toContain("SCAN originals");
    for (const s of [a, b]) s.close();
  });
});
