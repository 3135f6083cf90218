/**
 * A database that is down or hangs: clean 503s over HTTP, nothing hangs, and recovery is automatic.
 * A chat keeps working from its room's own storage; D1 catches up when it is back.
 */
import { createExecutionContext, env, runInDurableObject, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { FRESH_MS, tokenVersions } from "../../src/auth/token-versions";
import { withDeadline } from "../../src/db/deadline";
import { createApp } from "../../src/http/app";
import type { InboxRoom } from "../../src/inbox/inbox-room";
import { ErrorCode } from "../../src/protocol/errors";
import { ClientEvent, InboxEvent, ServerEvent } from "../../src/protocol/events";
import type { Message } from "../../src/protocol/models";
import type { ChatRoom } from "../../src/room/chat-room";
import { api, BASE, connect, connectInbox, copyToD1Now, register, roomStub, brokenD1, d1Copy, TestSocket, twoInAChat, uniqueName } from "./helpers";

afterEach(() => vi.restoreAllMocks());


// withDeadline and the classification of D1 failures: src/db/deadline.test.ts.

describe("the Worker with a degraded database", () => {
  it.each(["hang", "fail"] as const)("answers 503 unavailable with Retry-After when D1 %s, quickly", async (mode) => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const user = await register("degraded");
    const app = createApp();
    const started = Date.now();
    for (const [method, path, body] of [
      ["GET", "/api/search?q=a", undefined],
      ["POST", "/api/auth/login", { username: user.user.username, password: user.password }],
      ["GET", "/api/users?q=a", undefined],
    ] as const) {
      const res = await app.request(
        path,
        { method, headers: { Authorization: `Bearer ${user.token}`, "Content-Type": "application/json" }, body: body && JSON.stringify(body) },
        { ...env, DB: brokenD1(mode), D1_TIMEOUT_MS: "200" },
      );
      expect(res.status).toBe(503);
      expect(res.headers.get("Retry-After")).toBe("1");
      expect(await res.json()).toEqual({ error: expect.any(String), code: ErrorCode.Unavailable });
    }
    expect(Date.now() - started).toBeLessThan(3000);
    // The same app works again as soon as the database does.
    const ok = await app.request("/api/search?q=a", { headers: { Authorization: `Bearer ${user.token}` } }, env);
    expect(ok.status).toBe(200);
  });
});

interface RoomInternals {
  d1: D1Database;
  d1Copy: { failures: number; at: number | null; copying: Promise<void> | null; run(): Promise<void> };
}
const internals = (room: ChatRoom) => room as unknown as RoomInternals;
/** Waits out a copy the room's alarm may have under way (a second copy meanwhile returns at once). */
async function copyIdle(room: ChatRoom) {
  while (internals(room).d1Copy.copying) await new Promise((r) => setTimeout(r, 10));
}

describe("a room with a hung or failing database", () => {

  it.each(["hang", "fail"] as const)(
    "keeps acking, delivering, paging and replaying from its own storage when D1 %s; the copy retries and D1 ends with every message once",
    async (mode) => {
      vi.spyOn(console, "error").mockImplementation(() => {});
      const { bob, chat, a, b } = await twoInAChat("hang", "wait");
      a.sendJson(ClientEvent.SendMessage, { content: "before", clientId: "v0" });
      const first = await a.next(ServerEvent.MessageSent);
      await b.next(ServerEvent.ReceiveMessage);
      expect(await copyToD1Now(chat.id)).toBe(true);

      await runInDurableObject(roomStub(chat.id), (room: ChatRoom) => void (internals(room).d1 = withDeadline(brokenD1(mode), 50)));
      // Both sockets send, are acknowledged at once (nothing waits for D1) and hear each other.
      const started = Date.now();
      a.sendJson(ClientEvent.SendMessage, { content: "into the void", clientId: "v1" });
      const ack = await a.next(ServerEvent.MessageSent, 2);
      expect(Date.now() - started).toBeLessThan(1000);
      expect(ack.clientId).toBe("v1");
      expect(await b.next(ServerEvent.ReceiveMessage, 2)).toMatchObject({ id: ack.messageId, content: "into the void" });
      b.sendJson(ClientEvent.SendMessage, { content: "echo", clientId: "e1" });
      const reply = await b.next(ServerEvent.MessageSent);
      expect(await a.next(ServerEvent.ReceiveMessage)).toMatchObject({ id: reply.messageId, content: "echo" });
      // A resend (its ack lost, say) is acknowledged with the first message and not delivered again.
      a.sendJson(ClientEvent.SendMessage, { content: "into the void", clientId: "v1" });
      expect((await a.next(ServerEvent.MessageSent, 3)).messageId).toBe(ack.messageId);
      const posted = await api("POST", `/api/chats/${chat.id}/messages`, { token: bob.token, body: { content: "over http", clientId: "h1" } });
      expect(posted.status).toBe(201);
      // Bob's socket hears his HTTP post after Ann's resend: had the resend been delivered, it would be before it.
      expect(await b.next(ServerEvent.ReceiveMessage, 3)).toMatchObject({ id: posted.body.id, content: "over http" });
      expect(b.of(ServerEvent.ReceiveMessage).map((m) => m.content)).toEqual(["before", "into the void", "over http"]);
      const expected = ["before", "into the void", "echo", "over http"];

      // History and a `since` reconnect come from the room.
      const history = await api("GET", `/api/chats/${chat.id}/messages`, { token: bob.token });
      expect(history.status).toBe(200);
      expect(history.body.messages.map((m: Message) => m.content)).toEqual(expected);
      const acked: Message[] = history.body.messages;
      const back = await connect(chat.id, bob.token, `?since=${first.messageId}`);
      expect(await back.next(ServerEvent.ReplayDone)).toEqual({ chatId: chat.id, lastId: acked.at(-1)!.id, hasMore: false, lastChangeId: 0, hasMoreChanges: false });
      expect(back.of(ServerEvent.ReceiveMessage)).toEqual(acked.slice(1));

      // The copy to D1 fails, is rescheduled with a backoff, and records nothing.
      const during = await runInDurableObject(roomStub(chat.id), async (room: ChatRoom) => {
        await copyIdle(room);
        await internals(room).d1Copy.run();
        return { failures: internals(room).d1Copy.failures, retryAt: internals(room).d1Copy.at };
      });
      expect(during.failures).toBeGreaterThan(0);
      expect(during.retryAt).not.toBeNull();
      expect(during.retryAt!).toBeGreaterThan(Date.now());
      expect((await d1Copy(chat.id)).n).toBe(1);

      // D1 is back: the next copy brings it every acknowledged message, each once, as sent.
      await runInDurableObject(roomStub(chat.id), async (room: ChatRoom) => {
        await copyIdle(room);
        internals(room).d1 = withDeadline(env.DB, 5000);
      });
      expect(await copyToD1Now(chat.id)).toBe(true);
      const copied = await d1Copy(chat.id);
      expect({ n: copied.n, d: copied.d }).toEqual({ n: acked.length, d: acked.length });
      expect(copied.rows).toEqual(
        acked.map((m, i) => ({ id: m.id, sender_id: m.sender.id, content: m.content, client_id: ["v0", "v1", "e1", "h1"][i] })),
      );
      expect(await runInDurableObject(roomStub(chat.id), (room: ChatRoom) => internals(room).d1Copy.failures)).toBe(0);
      for (const s of [a, b, back]) s.close();
    },
  );
});

describe("an inbox with a failing database", () => {
  it("refuses the socket with 503 unavailable rather than listen unrecorded, and recovers", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const mia = await register("mia");
    const stub = env.INBOX.get(env.INBOX.idFromName(String(mia.user.id)));
    // `d1` is the inbox's D1 handle (with its deadline); its `db` is derived from it.
    const setDb = (d1: D1Database) => runInDurableObject(stub, (inbox: InboxRoom) => void ((inbox as unknown as { d1: D1Database }).d1 = d1));
    await setDb(withDeadline(brokenD1("fail"), 200));
    const refused = await SELF.fetch(`${BASE}/api/inbox/ws`, { headers: { Upgrade: "websocket", Authorization: `Bearer ${mia.token}` } });
    expect(refused.status).toBe(503);
    expect(await refused.json()).toEqual({ error: expect.any(String), code: ErrorCode.Unavailable });
    expect(refused.webSocket).toBeNull();
    await setDb(withDeadline(env.DB, 5000));
    const inbox = await connectInbox(mia.token);
    expect(inbox.of(InboxEvent.InboxReady)).toEqual([{ userId: mia.user.id }]);
    inbox.close();
  });
});

describe("D1 failing in any way: routes that can answer without it do, the others say 503", () => {
  // Each of D1's ways of failing, as the Worker and the room meet them: a locked local file, an
  // internal error, overload (no `D1_` prefix), a binding that throws a TypeError on every call.
  const faults: [string, "fail" | "throw", () => unknown][] = [
    ["SQLITE_BUSY", "fail", () => new Error("D1_ERROR: database is locked: SQLITE_BUSY")],
    ["an internal error", "fail", () => new Error("D1_ERROR: internal error")],
    ["overload", "fail", () => new Error("D1 DB is overloaded. Too many requests queued.")],
    ["a binding that throws", "throw", () => new TypeError("Cannot read properties of undefined (reading 'prepare')")],
  ];

  it.each(faults)("with %s: room-served routes and sockets work on cached token versions; D1's routes 503 with Retry-After; nothing 500", async (_, mode, fault) => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { ann, bob, chat, a, b } = await twoInAChat("busy", "lock");
    a.sendJson(ClientEvent.SendMessage, { content: "before", clientId: "k0" });
    await a.next(ServerEvent.MessageSent);
    await b.next(ServerEvent.ReceiveMessage);
    expect(await copyToD1Now(chat.id)).toBe(true);
    const stranger = await register("uncached");

    const broken = withDeadline(brokenD1(mode, fault), 200);
    await runInDurableObject(roomStub(chat.id), (room: ChatRoom) => void (internals(room).d1 = broken));
    // Both members' versions were read a while ago: past the 10 s freshness, inside the stale bound,
    // so this request must go to D1 and, finding it failing, use what it has.
    const stale = Date.now() - FRESH_MS - 1000;
    tokenVersions.remember(ann.user.id, 0, stale);
    tokenVersions.remember(bob.user.id, 0, stale);

    const app = createApp();
    const brokenEnv = { ...env, DB: brokenD1(mode, fault), D1_TIMEOUT_MS: "200" };
    const call = async (method: string, path: string, token: string | undefined, body?: unknown, headers: Record<string, string> = {}) => {
      const res = await app.request(
        path,
        {
          method,
          headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { "Content-Type": "application/json" }), ...headers },
          body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
        },
        brokenEnv,
        createExecutionContext(),
      );
      return { status: res.status, retryAfter: res.headers.get("Retry-After"), body: (res.status === 204 || res.status === 101 ? null : await res.json()) as any, webSocket: res.webSocket };
    };
    const c = `/api/chats/${chat.id}`;

    // Served by the room (and the token): as if nothing happened.
    const sent = await call("POST", `${c}/messages`, bob.token, { content: "over http", clientId: "k1" });
    expect(sent.status).toBe(201);
    expect(await a.next(ServerEvent.ReceiveMessage)).toMatchObject({ id: sent.body.id, content: "over http" });
    a.sendJson(ClientEvent.SendMessage, { content: "on the socket", clientId: "k2" });
    const ack = await a.next(ServerEvent.MessageSent, 2);
    // Bob hears his own HTTP post on his socket too, then Ann's.
    expect(await b.next(ServerEvent.ReceiveMessage, 3)).toMatchObject({ id: ack.messageId, content: "on the socket" });
    const history = await call("GET", `${c}/messages`, bob.token);
    expect(history.status).toBe(200);
    expect(history.body.messages.map((m: Message) => m.content)).toEqual(["before", "over http", "on the socket"]);
    expect((await call("GET", `${c}/changes`, bob.token)).status).toBe(200);
    expect((await call("POST", `${c}/read`, bob.token, { messageId: ack.messageId })).status).toBe(204);
    expect(await call("GET", "/api/me", ann.token)).toMatchObject({ status: 200, body: ann.user });
    expect((await call("POST", "/api/auth/refresh", ann.token)).status).toBe(200);
    const upload = await call("POST", `${c}/attachments`, ann.token, "hello", { "Content-Type": "text/plain", "X-File-Name": "a.txt", "Content-Length": "5" });
    expect(upload.status).toBe(201);
    expect((await call("GET", `/api/attachments/${upload.body.id}/url`, ann.token)).status).toBe(200);
    // A new socket for a member whose version is cached connects, with its `since` replay.
    const upgrade = await call("GET", `${c}/ws?since=0`, bob.token, undefined, { Upgrade: "websocket" });
    expect(upgrade.status).toBe(101);
    upgrade.webSocket!.accept();
    const again = new TestSocket(upgrade.webSocket!);
    await again.next(ServerEvent.ReplayDone);
    expect(again.of(ServerEvent.ReceiveMessage).map((m) => m.content)).toEqual(["before", "over http", "on the socket"]);
    // The chat object and group administration are the room's: answered, D1 follows when it is back.
    const one = await call("GET", c, bob.token);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id: chat.id, lastMessage: { id: ack.messageId }, lastReadMessageId: ack.messageId, unreadCount: 0 });
    const renamed = await call("PATCH", c, ann.token, { name: "renamed while D1 is down" });
    expect(renamed.status).toBe(200);
    expect(renamed.body.name).toBe("renamed while D1 is down");
    // So is the chat list: the inbox knows the user's chats, and each room its own state.
    const list = await call("GET", "/api/chats", bob.token);
    expect(list.status).toBe(200);
    expect(list.body.chats.find((x: { id: number }) => x.id === chat.id)).toMatchObject({ name: "renamed while D1 is down", lastMessage: { id: ack.messageId }, unreadCount: 0 });

    // Needs D1: says so, with Retry-After, in the contract's shape.
    for (const [method, path, token, body] of [
      ["POST", "/api/chats", ann.token, { type: "direct", userId: stranger.user.id }],
      // An add looks the user up in D1 first.
      ["POST", `${c}/members`, ann.token, { userId: stranger.user.id }],
      ["GET", "/api/users?q=a", ann.token],
      ["GET", "/api/search?q=before", ann.token],
      ["POST", "/api/auth/login", undefined, { username: ann.user.username, password: ann.password }],
      ["POST", "/api/auth/register", undefined, { username: uniqueName("nodb"), password: "correct horse battery" }],
      ["POST", "/api/auth/logout", ann.token],
      // A user whose token version this isolate never read cannot be checked: 503, not 401 or 500.
      ["GET", "/api/me", stranger.token],
      ["GET", `${c}/messages`, stranger.token],
    ] as const) {
      const res = await call(method, path, token, body);
      expect({ route: `${method} ${path}`, status: res.status, retryAfter: res.retryAfter, body: res.body }).toEqual({
        route: `${method} ${path}`,
        status: 503,
        retryAfter: "1",
        body: { error: expect.any(String), code: ErrorCode.Unavailable },
      });
    }

    // D1 is back: the copy brings it every acknowledged message once.
    await runInDurableObject(roomStub(chat.id), async (room: ChatRoom) => {
      await copyIdle(room);
      internals(room).d1 = withDeadline(env.DB, 5000);
    });
    expect(await copyToD1Now(chat.id)).toBe(true);
    const copied = await d1Copy(chat.id);
    expect(copied.rows.map((r) => r.content)).toEqual(["before", "over http", "on the socket"]);
    // ... and the rename the room decided meanwhile.
    expect(await env.DB.prepare("SELECT name FROM chats WHERE id = ?").bind(chat.id).first()).toEqual({ name: "renamed while D1 is down" });
    for (const s of [a, b, again]) s.close();
  });
});
