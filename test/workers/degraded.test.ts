/**
 * A database that is down or hangs: clean 503s over HTTP, nothing hangs, and recovery is automatic.
 * A chat keeps working from its room's own storage; D1 catches up when it is back.
 */
import { env, runInDurableObject, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DatabaseUnavailable, isUnavailable, withDeadline } from "../../src/db/deadline";
import { createApp } from "../../src/http/app";
import type { InboxRoom } from "../../src/inbox/inbox-room";
import { ErrorCode } from "../../src/protocol/errors";
import { ClientEvent, InboxEvent, ServerEvent } from "../../src/protocol/events";
import type { Message } from "../../src/protocol/models";
import type { ChatRoom } from "../../src/room/chat-room";
import { api, BASE, connect, connectInbox, copyToD1Now, createGroup, register, roomStub, brokenD1, d1Copy, twoInAChat } from "./helpers";

afterEach(() => vi.restoreAllMocks());


describe("withDeadline", () => {
  it("passes answers through and turns a hang into DatabaseUnavailable", async () => {
    const fast = withDeadline(env.DB, 1000);
    expect(await fast.prepare("SELECT ?1 AS x").bind(7).first()).toEqual({ x: 7 });
    const [a, b] = await fast.batch([fast.prepare("SELECT 1 AS one"), fast.prepare("SELECT 2 AS two").bind()]);
    expect([a!.results, b!.results]).toEqual([[{ one: 1 }], [{ two: 2 }]]);
    const slow = withDeadline(brokenD1("hang"), 50);
    await expect(slow.prepare("SELECT 1").all()).rejects.toBeInstanceOf(DatabaseUnavailable);
    await expect(slow.batch([slow.prepare("SELECT 1")])).rejects.toBeInstanceOf(DatabaseUnavailable);
  });

  it("tells an unreachable database from a wrong query", () => {
    expect(isUnavailable(new DatabaseUnavailable("x"))).toBe(true);
    expect(isUnavailable(new Error("D1_ERROR: Network connection lost."))).toBe(true);
    expect(isUnavailable(new Error("D1_ERROR: no such column: nope"))).toBe(false);
    expect(isUnavailable(new Error("timeout somewhere else"))).toBe(false);
    const wrapped = new Error("Failed query: select 1", { cause: new Error("D1_ERROR: Network connection lost.") });
    expect(isUnavailable(wrapped)).toBe(true);
  });
});

describe("the Worker with a degraded database", () => {
  it.each(["hang", "fail"] as const)("answers 503 unavailable with Retry-After when D1 %s, quickly", async (mode) => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const user = await register("degraded");
    const app = createApp();
    const started = Date.now();
    for (const [method, path, body] of [
      ["GET", "/api/chats", undefined],
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
    const ok = await app.request("/api/chats", { headers: { Authorization: `Bearer ${user.token}` } }, env);
    expect(ok.status).toBe(200);
  });
});

describe("a room with a hung or failing database", () => {
  interface RoomInternals {
    d1: D1Database;
    d1Copy: { failures: number; at: number | null; copying: Promise<void> | null; run(): Promise<void> };
  }
  const internals = (room: ChatRoom) => room as unknown as RoomInternals;
  /** Waits out a copy the room's alarm may have under way (a second copy meanwhile returns at once). */
  async function copyIdle(room: ChatRoom) {
    while (internals(room).d1Copy.copying) await new Promise((r) => setTimeout(r, 10));
  }

  it.each(["hang", "fail"] as const)(
    "keeps acking, delivering, paging and replaying from its own storage when D1 %s; the copy retries and D1 ends with every message once",
    async (mode) => {
      vi.spyOn(console, "error").mockImplementation(() => {});
      const { ann, bob, chat, a, b } = await twoInAChat("hang", "wait");
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
